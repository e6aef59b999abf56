package fleethealth

// Regression tests from an independent review of the detector: each one
// failed before its fix.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// runAll runs the detector every step in [from, to] and collects alerts.
func runAll(f *fixture, from, to time.Time, step time.Duration) []Alert {
	var all []Alert
	for now := from; !now.After(to); now = now.Add(step) {
		all = append(all, f.run(now).Alerts...)
	}
	return all
}

func summary(as []Alert) []string {
	var out []string
	for _, a := range as {
		s := a.TS.Format("01-02T15:04") + " " + a.Host + " " + a.Symptom
		if a.Resolves != "" {
			s += " " + a.Resolves
		}
		out = append(out, s)
	}
	return out
}

func noResolved(t *testing.T, all []Alert) {
	t.Helper()
	for _, s := range summary(all) {
		if strings.Contains(s, "resolved") {
			t.Errorf("a resolved notice while nothing cleared: %s", s)
		}
	}
}

// A quiet-group host that dies in the day is silent (its grace restarting
// after each quiet night), never resolved, and gone only after 7 days.
func TestQuietGroupDeadHost(t *testing.T) {
	f := newFixture(t)
	f.cfg.QuietHours = []config.QuietHours{{Hosts: []string{"room-b-*"}, From: "19:00", To: "07:00", TimeZone: "UTC"}}
	f.add(healthy("room-b-1", t0.Add(-time.Hour), t0)...) // dies at 10:00 on a Thursday
	all := runAll(f, t0, t0.Add(30*time.Hour), 5*time.Minute)
	noResolved(t, all)
	if len(all) == 0 || all[0].Symptom != Silent || !all[0].TS.Equal(t0.Add(35*time.Minute)) {
		t.Fatalf("alerts %v; want silent at 10:35 first", summary(all))
	}
}

// A silent host whose quiet hours begin stays alerted, not resolved.
func TestQuietHoursBeginNoResolve(t *testing.T) {
	f := newFixture(t)
	f.cfg.QuietHours = []config.QuietHours{{Hosts: []string{"room-b-*"}, From: "19:00", To: "07:00", TimeZone: "UTC"}}
	dead := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
	f.add(healthy("room-b-1", dead.Add(-time.Hour), dead)...)
	all := runAll(f, dead, dead.Add(3*time.Hour), 5*time.Minute)
	noResolved(t, all)
	if got := summary(all); len(got) != 2 || !strings.HasSuffix(got[0], "room-b-1 silent") {
		t.Fatalf("alerts %v; want silent at 17:35 and its 18:00 repeat, then nothing in quiet hours", got)
	}
}

// A room host (nights and weekends quiet) that dies on Friday evening is
// alerted before the night begins, held through the weekend, and alerted
// again on Monday morning once the grace after quiet hours has passed;
// one that comes back on Monday is resolved.
func TestQuietWeekendDeadHost(t *testing.T) {
	f := newFixture(t)
	f.cfg.QuietHours = []config.QuietHours{
		{Hosts: []string{"room-b-*"}, Days: []string{"daily"}, From: "19:00", To: "07:00", TimeZone: "UTC"},
		{Hosts: []string{"room-b-*"}, Days: []string{"weekend"}, From: "00:00", To: "24:00", TimeZone: "UTC"},
	}
	fri := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC) // a Friday
	f.add(healthy("room-b-1", fri.Add(-time.Hour), fri)...)
	f.add(healthy("room-b-2", fri.Add(-time.Hour), fri)...)
	mon := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	f.add(healthy("room-b-2", mon.Add(5*time.Minute), mon.Add(3*time.Hour))...) // back on Monday
	all := runAll(f, fri, mon.Add(90*time.Minute), 5*time.Minute)
	got := map[string][]string{}
	for _, a := range all {
		got[a.Host] = append(got[a.Host], a.TS.Format("Mon 15:04")+" "+a.Symptom)
	}
	if fmt.Sprint(got["room-b-1"]) != "[Fri 18:35 silent Mon 07:35 silent Mon 08:00 silent]" {
		t.Errorf("room-b-1 (dead) alerts %v", got["room-b-1"])
	}
	if fmt.Sprint(got["room-b-2"]) != "[Fri 18:35 silent Mon 07:10 resolved]" {
		t.Errorf("room-b-2 (back on Monday) alerts %v", got["room-b-2"])
	}
}

// The receiver dies: one fleet-silent for as long as nothing arrives, no
// per-host storm, no false resolved, nobody gone.
func TestReceiverDownLong(t *testing.T) {
	f := newFixture(t)
	for i := range 10 {
		f.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-3*time.Hour), t0)...)
	}
	all := runAll(f, t0, t0.Add(30*time.Hour), 15*time.Minute)
	for _, a := range all {
		if a.Host != FleetHost || a.Symptom != FleetSilent {
			t.Fatalf("while the receiver is down: %s %s (%s)", a.Host, a.Symptom, a.Detail)
		}
	}
	if len(all) < 29 {
		t.Fatalf("fleet-silent fired %d times in 30 h; want once an hour", len(all))
	}
	// It comes back: fleet-silent is resolved.
	back := t0.Add(30*time.Hour + time.Minute)
	var lines []index.Line
	for i := range 10 {
		lines = append(lines, healthy(fmt.Sprintf("lab-%d", i), back, back.Add(20*time.Minute))...)
	}
	f.addInOrder(lines...)
	all = runAll(f, back.Add(5*time.Minute), back.Add(15*time.Minute), 5*time.Minute)
	if got := summary(all); len(got) != 1 || !strings.HasSuffix(got[0], "* resolved fleet-silent") {
		t.Fatalf("after the receiver came back: %v", got)
	}
}

// A host's fatal-only folded into a receiver fault is held, not resolved.
func TestReceiverFaultHoldsFatalOnly(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	start := t0.Add(-30 * time.Minute)
	f.add(every(start, t0.Add(20*time.Minute), time.Minute, func(ts time.Time) index.Line { return put("lab-sick", ts, 500, "panic") })...)
	for i := range 4 {
		h := fmt.Sprintf("lab-%d", i)
		f.add(healthy(h, start, t0.Add(5*time.Minute))...)
		f.add(every(t0.Add(5*time.Minute), t0.Add(20*time.Minute), time.Minute, func(ts time.Time) index.Line { return put(h, ts, 500, "panic") })...)
	}
	all := runAll(f, t0, t0.Add(20*time.Minute), 5*time.Minute)
	noResolved(t, all)
	if got := summary(all); len(got) != 2 || !strings.HasSuffix(got[0], "lab-sick fatal-only") || !strings.HasSuffix(got[1], "* receiver-fault") {
		t.Fatalf("alerts %v; want lab-sick fatal-only, then one receiver-fault", got)
	}
}

// Quiet hours keep their wall-clock times on daylight-saving days.
func TestQuietHoursDST(t *testing.T) {
	j := &Judge{Cfg: config.FleetHealth{QuietHours: []config.QuietHours{{Hosts: []string{"*"}, From: "19:00", To: "07:00", TimeZone: "Europe/Berlin"}}}}
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at    time.Time
		quiet bool
	}{
		{time.Date(2026, 10, 25, 18, 30, 0, 0, loc), false}, // clocks went back that morning
		{time.Date(2026, 10, 25, 19, 30, 0, 0, loc), true},
		{time.Date(2026, 3, 29, 19, 30, 0, 0, loc), true}, // clocks went forward
		{time.Date(2026, 3, 30, 6, 30, 0, 0, loc), true},
		{time.Date(2026, 3, 30, 7, 30, 0, 0, loc), false},
	} {
		if got := j.quietNow("h", c.at); got != c.quiet {
			t.Errorf("%s: quiet = %v, want %v", c.at, got, c.quiet)
		}
	}
}

// A dry run writes nothing, even to move a corrupt state aside.
func TestDryRunLeavesCorruptState(t *testing.T) {
	f := newFixture(t)
	state := StatePath(datadir.Dir(f.data).FleetHealth())
	os.MkdirAll(filepath.Dir(state), 0o755)
	os.WriteFile(state, []byte("{garbage"), 0o644)
	if _, err := Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("a dry run changed the data folder: %v", err)
	}
}

// A clock two days ahead for one run: one fleet-silent, not the whole
// fleet gone and forgotten.
func TestClockStepForward(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	for i := range 3 {
		f.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-time.Hour), t0)...)
	}
	f.runLive(t0)
	wantAlerts(t, "clock 2 days ahead", f.runLive(t0.Add(48*time.Hour)).Alerts, "* fleet-silent")
}

// A clock hours ahead for one run does not mute a sustained symptom for
// those hours once it is back.
func TestClockBackAfterForwardStep(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	for i := 2; i < 5; i++ {
		f.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-2*time.Hour), t0.Add(10*time.Hour))...)
	}
	f.runLive(t0)
	f.runLive(t0.Add(5 * time.Hour)) // one glitchy run
	var all []Alert
	for now := t0.Add(10 * time.Minute); now.Before(t0.Add(5 * time.Hour)); now = now.Add(5 * time.Minute) {
		all = append(all, f.runLive(now).Alerts...)
	}
	if len(all) < 4 {
		t.Errorf("lab-1 stayed silent for hours after the clock came back, but only %v", summary(all))
	}
}

// A line stamped in the future counts as now: its host can still go
// silent.
func TestFutureLineDoesNotHideSilence(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.add(put("lab-1", t0.Add(6*time.Hour), 201, "")) // the receiver's clock was 6 h ahead
	f.runLive(t0)
	wantAlerts(t, "35 min later", f.runLive(t0.Add(35*time.Minute)).Alerts, "lab-1 silent")
}

// The fatal window is 30 minutes, not 30 and a bit.
func TestFatalWindowEdge(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	now := t0.Add(50 * time.Second)
	f.add(put("lab-1", t0.Add(-30*time.Minute), 401, "bad-token"), // 30m50s before now
		put("lab-1", t0.Add(-10*time.Minute), 401, "bad-token"),
		put("lab-1", t0.Add(-5*time.Minute), 401, "bad-token"))
	wantAlerts(t, "2 PUTs within 30 min", f.run(now).Alerts)
}

// A host's own 4xx failures stay its fatal-only during a receiver fault.
func TestReceiverFaultKeepsOwn4xx(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	start := t0.Add(-30 * time.Minute)
	f.add(every(start, t0, 10*time.Second, func(ts time.Time) index.Line {
		l := put("lab-x", ts, 401, "cert-expired")
		l.Auth = false
		return l
	})...)
	f.add(put("lab-x", t0.Add(-time.Minute), 503, "storage"))
	for i := range 3 {
		h := fmt.Sprintf("lab-%d", i)
		f.add(healthy(h, start, t0)...)
		f.add(put(h, t0.Add(-time.Minute), 503, "storage"))
	}
	wantAlerts(t, "own failures", f.run(t0).Alerts, "* receiver-fault", "lab-x fatal-only")
}

// A machine switching installations now and then (a rollback, a dual
// boot) is not a clone.
func TestDuplicateAlternatingSlowly(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	mk := func(inst string) func(time.Time) index.Line {
		return func(ts time.Time) index.Line { l := put("lab-1", ts, 201, ""); l.Instance = inst; return l }
	}
	f.add(every(t0.Add(-4*time.Hour), t0.Add(-2*time.Hour), time.Minute, mk("a"))...)
	f.add(every(t0.Add(-2*time.Hour), t0.Add(-10*time.Minute), time.Minute, mk("b"))...)
	f.add(every(t0.Add(-10*time.Minute), t0, time.Minute, mk("a"))...)
	wantAlerts(t, "a, b, then a again", f.run(t0).Alerts)
}

// The fleet view shows hosts whose silence a fleet-silent explains as
// silent, not ok.
func TestViewShowsHeldSymptoms(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-90*time.Minute), t0.Add(-45*time.Minute))...)
	}
	f.add(healthy("lab-ok", t0.Add(-90*time.Minute), t0)...)
	v, err := BuildView(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Fleet) != 1 || v.Fleet[0].Symptom != FleetSilent {
		t.Fatalf("fleet symptoms %+v", v.Fleet)
	}
	i := slices.IndexFunc(v.Hosts, func(r Row) bool { return r.Host == "lab-0" })
	if i < 0 {
		t.Fatalf("lab-0 is not in the view: %+v", v.Hosts)
	}
	if r := v.Hosts[i]; r.State != "silent" || len(r.Symptoms) != 1 || !r.Symptoms[0].Held {
		t.Errorf("lab-0, quiet for 45 min during fleet-silent: state %q, symptoms %+v", r.State, r.Symptoms)
	}
}

// TestViewStaleFromTheGate: a host is marked stale by the gate's own answer
// to its latest log PUT (whatever releases were published since the
// config was written), and no longer once the gate accepts it again.
func TestViewStaleFromTheGate(t *testing.T) {
	f := newFixture(t)
	f.add(put("lab-old", t0.Add(-2*time.Minute), 426, "stale-code"), put("lab-old", t0.Add(-time.Minute), 426, "stale-code"))
	f.add(put("lab-back", t0.Add(-2*time.Minute), 426, "stale-code"), put("lab-back", t0.Add(-time.Minute), 201, ""))
	v, err := BuildView(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Accepted: "0.5.0 (333333333333)", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	stale := map[string]bool{}
	for _, r := range v.Hosts {
		stale[r.Host] = r.Stale
		for _, s := range r.Symptoms {
			if want := "alive, but both its log PUTs were refused by the version gate: it runs aaaaaaaaaaaa and the receiver accepts 0.5.0 (333333333333);"; s.Symptom == StaleCode && !strings.HasPrefix(s.Detail, want) {
				t.Errorf("%s's stale-code detail: %q, want it to start %q", r.Host, s.Detail, want)
			}
		}
	}
	if len(stale) != 2 || !stale["lab-old"] || stale["lab-back"] {
		t.Fatalf("stale hosts %v; want lab-old only (lab-back's latest PUT was accepted)", stale)
	}
}

// TestViewClampsFutureLines: as in the detector's runs, a line stamped
// ahead of the view's now (a receiver clock stepped back) counts as now.
func TestViewClampsFutureLines(t *testing.T) {
	f := newFixture(t)
	f.add(put("lab-1", t0.Add(time.Hour), 201, ""))
	v, err := BuildView(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Hosts) != 1 || !v.Hosts[0].LastSeen.Equal(t0) {
		t.Fatalf("hosts %+v; want lab-1 last seen at the view's now, %s", v.Hosts, t0)
	}
}

// TestViewCountsANewStreamsHeadAsAnswered: a new host's shipper asks
// where its stream stands (HEAD, 404: nothing yet) and then ships; its
// day shows no 4xx for that question, while a refused PUT still counts.
func TestViewCountsANewStreamsHeadAsAnswered(t *testing.T) {
	f := newFixture(t)
	head := put("lab-new", t0.Add(-3*time.Minute), 404, "no-stream")
	head.Method = "HEAD"
	f.add(head, put("lab-new", t0.Add(-2*time.Minute), 201, ""), put("lab-bad", t0.Add(-time.Minute), 403, "host-mismatch"))
	v, err := BuildView(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int{}
	for _, r := range v.Hosts {
		got[r.Host] = r.Requests24h
	}
	if n := got["lab-new"]; n["2xx"] != 2 || n["4xx"] != 0 {
		t.Errorf("lab-new's day: %v; want 2 answered, no 4xx", n)
	}
	if n := got["lab-bad"]; n["4xx"] != 1 {
		t.Errorf("lab-bad's day: %v; want its refused PUT as a 4xx", n)
	}
}

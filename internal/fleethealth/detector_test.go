package fleethealth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// healthy is a host shipping fine every minute in [from, to).
func healthy(host string, from, to time.Time) []index.Line {
	return every(from, to, time.Minute, func(ts time.Time) index.Line { return put(host, ts, 201, "") })
}

// TestSilentThreshold: quiet for exactly 30 min is not silent; a second
// more is, once confirmed by a second run.
func TestSilentThreshold(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	last := t0.Add(-time.Hour)
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), last.Add(time.Second))...)
	wantAlerts(t, "quiet exactly 30m", f.run(last.Add(30*time.Minute)).Alerts)
	got := f.run(last.Add(30*time.Minute + time.Second)).Alerts
	wantAlerts(t, "quiet 30m01s", got, "lab-1 silent")
	if !strings.Contains(got[0].Detail, "quiet for 30m") || got[0].Bucket != "2026-11-26T09" {
		t.Fatalf("silent alert %+v", got[0])
	}
}

// TestConfirmation: a symptom must hold on two consecutive runs before it
// fires; one slow minute pages no one.
func TestConfirmation(t *testing.T) {
	f := newFixture(t)
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-40*time.Minute))...)
	wantAlerts(t, "first run", f.run(t0).Alerts)
	// It speaks again before the next run: the symptom never fires.
	f.add(healthy("lab-1", t0.Add(time.Minute), t0.Add(2*time.Minute))...)
	wantAlerts(t, "second run, back", f.run(t0.Add(5*time.Minute)).Alerts)
	// Quiet again, for two runs: it fires on the second.
	wantAlerts(t, "quiet, run 1", f.run(t0.Add(40*time.Minute)).Alerts)
	wantAlerts(t, "quiet, run 2", f.run(t0.Add(45*time.Minute)).Alerts, "lab-1 silent")
}

// TestDedupAndResolved: a sustained fault fires once per hour bucket, not
// every run, across restarts (every run reloads the state from disk); it
// is resolved when it clears, once.
func TestDedupAndResolved(t *testing.T) {
	f := newFixture(t)
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	var all []Alert
	for now := t0; now.Before(t0.Add(2*time.Hour + time.Minute)); now = now.Add(5 * time.Minute) {
		all = append(all, f.run(now).Alerts...)
	}
	// Fires at 10:05 (confirmed), again at 11:00 and 12:00.
	wantAlerts(t, "two hours of silence", all, "lab-1 silent", "lab-1 silent", "lab-1 silent")
	for i, want := range []string{"2026-11-26T10", "2026-11-26T11", "2026-11-26T12"} {
		if all[i].Bucket != want {
			t.Errorf("alert %d bucket %s, want %s", i, all[i].Bucket, want)
		}
	}
	back := t0.Add(2*time.Hour + 3*time.Minute)
	f.add(healthy("lab-1", back, back.Add(10*time.Minute))...)
	wantAlerts(t, "back, run 1", f.run(back.Add(2*time.Minute)).Alerts)
	got := f.run(back.Add(7 * time.Minute)).Alerts
	wantAlerts(t, "back, run 2", got, "lab-1 resolved silent")
	if !strings.HasPrefix(got[0].Detail, "silent cleared after 2h") {
		t.Fatalf("resolved detail %q", got[0].Detail)
	}
	wantAlerts(t, "after resolved", f.run(back.Add(12*time.Minute)).Alerts)
	if n := len(f.alerts()); n != 4 {
		t.Fatalf("alerts.jsonl holds %d lines, want 4", n)
	}
}

// TestClockStepBack: a clock stepped back into an hour already alerted
// does not fire the alert again.
func TestClockStepBack(t *testing.T) {
	f := newFixture(t)
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.runLive(t0.Add(50 * time.Minute))
	wantAlerts(t, "fires at 10:55", f.runLive(t0.Add(55*time.Minute)).Alerts, "lab-1 silent")
	wantAlerts(t, "11:00", f.runLive(t0.Add(60*time.Minute)).Alerts, "lab-1 silent")
	wantAlerts(t, "clock back to 10:58", f.runLive(t0.Add(58*time.Minute)).Alerts)
	wantAlerts(t, "11:05", f.runLive(t0.Add(65*time.Minute)).Alerts)
}

// TestReplayIntoFreshState: a replay (--now) earlier than the state's last
// run is refused with the way out; into its own state folder it works and
// leaves the live state and alerts alone.
func TestReplayIntoFreshState(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.run(t0)
	_, err := Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0.Add(-30 * time.Minute), Replay: true})
	if err == nil || !strings.Contains(err.Error(), "replay into a fresh state folder, e.g. --state /tmp/replay") {
		t.Fatalf("a replay before the last run: %v", err)
	}
	replay := t.TempDir()
	res, err := Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0.Add(-35 * time.Minute), Replay: true, StateDir: replay})
	if err != nil || len(res.Alerts) != 0 {
		t.Fatalf("replay as of 09:25: %v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(replay, "alerts.jsonl")); len(b) != 0 || len(f.alerts()) != 1 {
		t.Fatalf("replay alerts %q; live alerts %d", b, len(f.alerts()))
	}
	res, _ = Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0.Add(-25 * time.Minute), Replay: true, StateDir: replay})
	if len(res.Alerts) != 1 {
		t.Fatalf("replay as of 09:35 alerted %v", res.Alerts)
	}
	if b, _ := os.ReadFile(filepath.Join(replay, "alerts.jsonl")); !strings.Contains(string(b), `"ts":"2026-11-26T09:35:00.000Z","host":"lab-1","symptom":"silent"`) || len(f.alerts()) != 1 {
		t.Fatalf("replay alerts %q; live alerts %d", b, len(f.alerts()))
	}
}

// TestGoneOnce: silent past the 24 h window is reported once as gone,
// never resolved; exactly 24 h is still silent.
func TestGoneOnce(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	last := t0
	f.add(healthy("lab-1", t0.Add(-time.Hour), last.Add(time.Second))...)
	f.run(t0.Add(time.Hour))
	wantAlerts(t, "at exactly 24h", f.run(last.Add(24*time.Hour)).Alerts, "lab-1 silent")
	got := f.run(last.Add(24*time.Hour + time.Second)).Alerts
	wantAlerts(t, "past 24h", got, "lab-1 gone")
	if !strings.Contains(got[0].Detail, "not seen since 2026-11-26T10:00:00Z") {
		t.Fatalf("gone detail %q", got[0].Detail)
	}
	wantAlerts(t, "a day later", f.run(last.Add(48*time.Hour)).Alerts)
	// Back after being gone: healthy, no resolved for the old silence.
	back := last.Add(49 * time.Hour)
	f.add(healthy("lab-1", back, back.Add(5*time.Minute))...)
	wantAlerts(t, "back", f.run(back.Add(5*time.Minute)).Alerts)
}

// TestOffIsNotSilent: a host whose last word was shutdown or sleep is off:
// never silent; gone after off_gone_after (7 days).
func TestOffIsNotSilent(t *testing.T) {
	for _, state := range []string{"shutdown", "sleep"} {
		t.Run(state, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.ConfirmRuns = 1
			f.add(healthy("lab-1", t0.Add(-time.Hour), t0)...)
			f.add(heartbeat("lab-1", t0, state))
			for _, d := range []time.Duration{time.Hour, 30 * time.Hour, 6 * 24 * time.Hour} {
				wantAlerts(t, fmt.Sprintf("off for %s", d), f.run(t0.Add(d)).Alerts)
			}
			got := f.run(t0.Add(7*24*time.Hour + time.Minute)).Alerts
			wantAlerts(t, "off for 7d", got, "lab-1 gone")
			if !strings.Contains(got[0].Detail, "last word was "+state) {
				t.Fatalf("gone detail %q", got[0].Detail)
			}
		})
	}
	// Back from sleep, then silent: silent again.
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(heartbeat("lab-1", t0, "sleep"))
	f.add(healthy("lab-1", t0.Add(time.Hour), t0.Add(time.Hour+time.Minute))...)
	wantAlerts(t, "awake, then quiet", f.run(t0.Add(2*time.Hour)).Alerts, "lab-1 silent")
}

// TestOnlyHeartbeats: an idle host that only heartbeats is healthy.
func TestOnlyHeartbeats(t *testing.T) {
	f := newFixture(t)
	f.add(every(t0.Add(-3*time.Hour), t0, 5*time.Minute, func(ts time.Time) index.Line { return heartbeat("lab-1", ts, "up") })...)
	f.run(t0.Add(-time.Minute))
	wantAlerts(t, "heartbeats only", f.run(t0).Alerts)
}

// TestFatalOnlyThreshold: at least 3 log PUTs in 30 min, all failed.
func TestFatalOnlyThreshold(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(put("lab-1", t0.Add(-20*time.Minute), 401, "bad-token"), put("lab-1", t0.Add(-10*time.Minute), 401, "bad-token"))
	wantAlerts(t, "2 failures", f.run(t0).Alerts)
	f.add(put("lab-1", t0.Add(time.Minute), 401, "bad-token"))
	got := f.run(t0.Add(2 * time.Minute)).Alerts
	wantAlerts(t, "3 failures", got, "lab-1 fatal-only")
	if d := got[0].Detail; !strings.HasPrefix(d, "every log PUT failed: 3×4xx; mostly bad-token (3): its bearer token is wrong or revoked") {
		t.Fatalf("detail %q", d)
	}
	// One success among them: not fatal-only (and resolved once clear).
	f.add(put("lab-1", t0.Add(3*time.Minute), 201, ""))
	wantAlerts(t, "one success", f.run(t0.Add(4*time.Minute)).Alerts, "lab-1 resolved fatal-only")
}

// TestCertExpiredDetail: the fix for an expired certificate, with its
// date; the refused log PUTs are that one alert, not a fatal-only too.
func TestCertExpiredDetail(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(every(t0.Add(-25*time.Minute), t0, 5*time.Minute, func(ts time.Time) index.Line {
		l := put("lab-1", ts, 401, "cert-expired")
		l.Auth, l.CertExpires = false, "2026-11-20T08:00:00Z"
		return l
	})...)
	got := f.run(t0).Alerts
	wantAlerts(t, "expired", got, "lab-1 cert-expired")
	if !strings.Contains(got[0].Detail, "its certificate expired at 2026-11-20T08:00:00Z (6d ago)") ||
		!strings.Contains(got[0].Detail, "run `cis490 cert-fetch` on it") {
		t.Fatalf("detail %q", got[0].Detail)
	}
}

// TestStaleCodeNotFatal: a host whose log PUTs are all refused by the gate
// while its heartbeats pass is stale-code (broken autoupdate), not
// fatal-only (which would send the maintainer after credentials).
func TestStaleCodeNotFatal(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	old := "1111111111111111111111111111111111111111"
	f.add(every(t0.Add(-30*time.Minute), t0, 5*time.Minute, func(ts time.Time) index.Line {
		l := put("lab-1", ts, 426, "stale-code")
		l.Commit, l.Gate = old, "stale"
		return l
	})...)
	f.add(heartbeat("lab-1", t0.Add(-time.Minute), "up"))
	got := f.run(t0).Alerts
	wantAlerts(t, "all 426", got, "lab-1 stale-code")
	if d := got[0].Detail; !strings.Contains(d, "runs 111111111111 and the receiver accepts 1.4.0") {
		t.Fatalf("detail %q", d)
	}
	// Mixed with credential failures: fatal-only names the dominant reason.
	f2 := newFixture(t)
	f2.cfg.ConfirmRuns = 1
	f2.add(put("lab-2", t0.Add(-9*time.Minute), 426, "stale-code"), put("lab-2", t0.Add(-8*time.Minute), 403, "host-mismatch"),
		put("lab-2", t0.Add(-7*time.Minute), 403, "host-mismatch"))
	wantAlerts(t, "mixed", f2.run(t0).Alerts, "lab-2 fatal-only")
}

// TestUnstamped: a host shipping without a stamp.
func TestUnstamped(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(every(t0.Add(-10*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-1", ts, 201, "")
		l.Commit, l.Gate = "", "unstamped"
		return l
	})...)
	f.add(healthy("lab-2", t0.Add(-10*time.Minute), t0)...)
	wantAlerts(t, "unstamped", f.run(t0).Alerts, "lab-1 unstamped")
}

// TestDuplicateIdentity: two installations shipping as one host at once
// (a cloned image) are reported; a reinstall (one after the other) is not.
func TestDuplicateIdentity(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(every(t0.Add(-20*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-1", ts, 201, "")
		if ts.Minute()%2 == 0 {
			l.Instance = "clone-b"
		} else {
			l.Instance = "clone-a"
		}
		return l
	})...)
	// lab-2 was reinstalled: the old instance stopped, then the new began.
	f.add(every(t0.Add(-20*time.Minute), t0.Add(-10*time.Minute), time.Minute, func(ts time.Time) index.Line {
		l := put("lab-2", ts, 201, "")
		l.Instance = "old"
		return l
	})...)
	f.add(every(t0.Add(-9*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-2", ts, 201, "")
		l.Instance = "new"
		return l
	})...)
	got := f.run(t0).Alerts
	wantAlerts(t, "clone and reinstall", got, "lab-1 duplicate-identity")
	if !strings.HasPrefix(got[0].Detail, "2 installations ship as this host at once (instances clone-a, clone-b; 19 switches in 30m)") {
		t.Fatalf("detail %q", got[0].Detail)
	}
}

// TestAttribution: a request naming host B in the URL with host A's
// certificate counts for A, never against B; an unauthenticated request
// without a fleet certificate counts for nobody; host names fold case.
func TestAttribution(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(healthy("lab-b", t0.Add(-30*time.Minute), t0)...)
	f.add(every(t0.Add(-25*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-b", ts, 403, "host-mismatch")
		l.Auth, l.CertHost = false, "lab-a"
		return l
	})...)
	f.add(every(t0.Add(-25*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-b", ts, 401, "cert-unknown-ca")
		l.Auth, l.CertHost = false, ""
		return l
	})...)
	got := f.run(t0).Alerts
	wantAlerts(t, "mismatch", got, "lab-a fatal-only")

	var tr = newTracker(config.DefaultFleetHealth())
	for _, r := range []index.Line{
		{TS: t0, Host: "elliott-thinkpad", Auth: true, CertHost: "elliott-ThinkPad", Method: "PUT", Endpoint: "logs", Status: 201},
		{TS: t0, Host: "elliott-thinkpad", Auth: true, Method: "PUT", Endpoint: "logs", Status: 201},
		{TS: t0, Host: "lab-9", Auth: true, Admin: "alice", Method: "GET", Endpoint: "logs", Status: 200},
	} {
		tr.Observe(&r)
	}
	if len(tr.Hosts) != 1 || tr.Hosts["elliott-thinkpad"] == nil {
		t.Fatalf("hosts %v; want only elliott-thinkpad", tr.Hosts)
	}
	// Folded refusals of callers without a fleet certificate count as
	// the requests they stand for.
	before := tr.Unattributed
	for _, c := range []int{0, 49} {
		tr.Observe(&index.Line{TS: t0, Host: "lab-9", Method: "PUT", Endpoint: "logs", Status: 401, Reason: "no-cert", Count: c})
	}
	if n := tr.Unattributed - before; n != 50 {
		t.Fatalf("%d unattributed requests for a refusal and a line folding 49; want 50", n)
	}
}

// TestQuietHours: a room switched off at night is not silent inside its
// quiet hours, and gets the silent_after grace when they end.
func TestQuietHours(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.QuietHours = []config.QuietHours{{Hosts: []string{"room-b-*"}, From: "19:00", To: "07:00", TimeZone: "UTC"}}
	evening := time.Date(2026, 11, 26, 18, 55, 0, 0, time.UTC)
	f.add(healthy("room-b-1", evening.Add(-time.Hour), evening)...)
	f.add(healthy("lab-1", evening.Add(-time.Hour), evening)...)
	wantAlerts(t, "19:30", f.run(evening.Add(35*time.Minute)).Alerts, "lab-1 silent")
	morning := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	wantAlerts(t, "06:59", f.run(morning.Add(-time.Minute)).Alerts, "lab-1 silent") // its hourly repeat
	wantAlerts(t, "07:20", f.run(morning.Add(20*time.Minute)).Alerts, "lab-1 silent")
	wantAlerts(t, "07:31", f.run(morning.Add(31*time.Minute)).Alerts, "room-b-1 silent")
}

// TestIncident replays the incident that shaped this product: one host at
// 943×4xx + 1425×5xx is fatal-only with that detail, while 5xx across
// most hosts is one receiver-fault, not one alert per host.
func TestIncident(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	start := t0.Add(-30 * time.Minute)
	var lines []index.Line
	for i := range 943 + 1425 {
		ts := start.Add(time.Duration(i) * (30 * time.Minute) / 2368)
		if i < 943 {
			lines = append(lines, put("elliott-thinkpad", ts, 413, "too-large"))
		} else {
			lines = append(lines, put("elliott-thinkpad", ts, 500, "panic"))
		}
	}
	f.add(lines...)
	for i := range 5 {
		f.add(healthy(fmt.Sprintf("lab-%d", i), start, t0)...)
	}
	got := f.run(t0).Alerts
	wantAlerts(t, "one sick host", got, "elliott-thinkpad fatal-only")
	if d := got[0].Detail; !strings.HasPrefix(d, "every log PUT failed: 943×4xx + 1425×5xx; mostly panic (1425)") {
		t.Fatalf("detail %q", d)
	}

	// The half-applied deploy: the receiver answers 500 to everyone.
	g := newFixture(t)
	g.cfg.ConfirmRuns = 1
	for i := range 6 {
		host := fmt.Sprintf("lab-%d", i)
		g.add(healthy(host, start.Add(-time.Hour), start)...)
		g.add(every(start, t0, time.Minute, func(ts time.Time) index.Line { return put(host, ts, 500, "panic") })...)
	}
	g.add(healthy("lab-ok", start, t0)...)
	got = g.run(t0).Alerts
	wantAlerts(t, "receiver answering 500", got, "* receiver-fault")
	if d := got[0].Detail; !strings.HasPrefix(d, "6 of 7 hosts active in the last 30m saw a 5xx (180×5xx in all)") {
		t.Fatalf("detail %q", d)
	}
}

// TestFleetSilent: most recently active hosts going silent together is one
// alert, not N; a host silent on its own is still named.
func TestFleetSilent(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	for i := range 5 {
		f.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-90*time.Minute), t0.Add(-45*time.Minute))...)
	}
	f.add(healthy("lab-ok", t0.Add(-90*time.Minute), t0)...)
	wantAlerts(t, "receiver down", f.run(t0).Alerts, "* fleet-silent")
	g := newFixture(t)
	g.cfg.ConfirmRuns = 1
	g.add(healthy("lab-0", t0.Add(-90*time.Minute), t0.Add(-45*time.Minute))...)
	for i := 1; i < 5; i++ {
		g.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-90*time.Minute), t0)...)
	}
	wantAlerts(t, "one host", g.run(t0).Alerts, "lab-0 silent")
}

// TestCorruptState: an unreadable state file is moved aside and the state
// rebuilt from the last 24 h of the index; the run works, and a symptom
// that holds is found again.
func TestCorruptState(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.run(t0)
	state := StatePath(datadir.Dir(f.data).FleetHealth())
	if err := os.WriteFile(state, []byte("\x00garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	got := f.run(t0.Add(65 * time.Minute)).Alerts
	wantAlerts(t, "after the state was lost", got, "lab-1 silent")
	if _, err := os.Stat(state + ".corrupt"); err != nil {
		t.Fatalf("the corrupt state was not kept aside: %v", err)
	}
}

// TestCertExpiring: a host whose certificate ends within 7 days has missed
// its renewals; one renewed in time is fine.
func TestCertExpiring(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(every(t0.Add(-10*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-1", ts, 201, "")
		l.CertExpires = t0.Add(5 * 24 * time.Hour).Format(time.RFC3339)
		return l
	})...)
	f.add(every(t0.Add(-10*time.Minute), t0, time.Minute, func(ts time.Time) index.Line {
		l := put("lab-2", ts, 201, "")
		l.CertExpires = t0.Add(20 * 24 * time.Hour).Format(time.RFC3339)
		return l
	})...)
	got := f.run(t0).Alerts
	wantAlerts(t, "certificates", got, "lab-1 cert-expiring")
	if !strings.Contains(got[0].Detail, "(in 5d)") {
		t.Fatalf("detail %q", got[0].Detail)
	}
}

// TestUnreadableIndex: no index folder is an error (the run could not
// run), not an empty fleet.
func TestUnreadableIndex(t *testing.T) {
	f := newFixture(t)
	os.RemoveAll(datadir.Dir(f.data).Index())
	if _, err := Run(t.Context(), Options{DataDir: f.data, Cfg: f.cfg, Now: t0}); err == nil {
		t.Fatal("a run without an index folder succeeded")
	}
}

// TestStateFromBeforeTheMove: a state file written when the checkpoint
// type lived in this package (testdata/state-v1.gob, a run over three
// lines) still decodes to the same checkpoint, so data folders in the
// field resume where they stopped rather than rebuilding.
func TestStateFromBeforeTheMove(t *testing.T) {
	st := stateV1(t)
	got, _ := json.Marshal(st.Checkpoint)
	want := `{"file":"2026-11-26.jsonl","offset":825,"seq":3,"ts":"2026-11-26T09:59:00Z","tail":[{"end":275,"hash":8236180370328583617},{"end":550,"hash":8443566324263412529},{"end":825,"hash":5486853859036801689}]}`
	if string(got) != want {
		t.Fatalf("checkpoint %s\nwant %s", got, want)
	}
}

// stateV1 decodes testdata/state-v1.gob, a state file from an early
// release: what a data folder in the field may still hold.
func stateV1(t *testing.T) State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "state-v1.gob"))
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := decodeState(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

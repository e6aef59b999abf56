package fleethealth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// alertFor is the one alert of host and symptom among as.
func alertFor(t *testing.T, as []Alert, host, symptom string) Alert {
	t.Helper()
	for _, a := range as {
		if a.Host == host && a.Symptom == symptom && a.Resolves == "" {
			return a
		}
	}
	t.Fatalf("no %s %s among [%s]", host, symptom, strings.Join(fired(as), ", "))
	return Alert{}
}

// wantIn fails t unless d has each of want.
func wantIn(t *testing.T, d string, want ...string) {
	t.Helper()
	detailHas(t, d, true, want...)
}

// wantNotIn fails t if d has any of not.
func wantNotIn(t *testing.T, d string, not ...string) {
	t.Helper()
	detailHas(t, d, false, not...)
}

func detailHas(t *testing.T, d string, has bool, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(d, s) != has {
			t.Errorf("detail has %q: %v; want %v: %s", s, !has, has, d)
		}
	}
}

// theFix is what every quiet host's detail tells its admin to do.
var theFix = []string{"power and network", "`cis490 doctor` on it", "`journalctl -u cis490-shipper`"}

// TestSilentNamesLastWord: a quiet host says what it last said. Refused
// 401 bad-token and then quiet (its shipper gave up), it names the
// refusal, with the token's fix before the generic one, and its last
// heartbeat; with a failing doctor report, the failing checks.
func TestSilentNamesLastWord(t *testing.T) {
	last := t0.Add(-45 * time.Minute)
	for _, tc := range []struct {
		name      string
		lines     func(f *fixture)
		want, not []string
	}{
		{"401 bad-token", func(f *fixture) {
			f.add(healthy("lab-1", t0.Add(-2*time.Hour), last.Add(-5*time.Minute))...)
			f.add(heartbeat("lab-1", last.Add(-3*time.Minute), "up"))
			f.add(put("lab-1", last.Add(-time.Minute), 401, "bad-token"), put("lab-1", last, 401, "bad-token"))
		}, []string{"quiet for 45m", "its last request, at 09:15Z, was a log PUT answered 401 bad-token",
			"bearer token is wrong or revoked", "reissue its credentials", "its last heartbeat, at 09:12Z, said up",
			"fix that refusal first"}, []string{"went quiet within", "doctor report"}},
		{"doctor failing", func(f *fixture) {
			f.add(upAll("lab-1", t0.Add(-2*time.Hour), last)...)
			f.report("lab-1", last.Add(-20*time.Minute), failingReport)
			f.add(put("lab-1", last, 201, ""))
		}, []string{"was a log PUT answered 201", "its last doctor report, at 08:55Z, failed: tls-expiry, token-file"},
			[]string{"refusal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.ConfirmRuns = 1
			tc.lines(f)
			d := alertFor(t, f.run(t0).Alerts, "lab-1", Silent).Detail
			wantIn(t, d, append(tc.want, theFix...)...)
			wantNotIn(t, d, tc.not...)
		})
	}
}

// TestSilentTogether: two hosts that went quiet in the same minute, while
// the rest of the fleet goes on (too few for fleet-silent), name each
// other and the power or network they share; a host quiet since earlier
// is no part of it.
func TestSilentTogether(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	last := t0.Add(-45 * time.Minute)
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), last.Add(time.Second))...)
	f.add(healthy("lab-2", t0.Add(-2*time.Hour), last.Add(30*time.Second))...)
	f.add(healthy("lab-9", t0.Add(-2*time.Hour), last.Add(-10*time.Minute))...)
	for i := 3; i <= 8; i++ {
		f.add(healthy(fmt.Sprintf("lab-%d", i), t0.Add(-2*time.Hour), t0)...)
	}
	got := f.run(t0).Alerts
	wantAlerts(t, "two quiet together", got, "lab-1 silent", "lab-2 silent", "lab-9 silent")
	for _, pair := range [][2]string{{"lab-1", "lab-2"}, {"lab-2", "lab-1"}} {
		d := alertFor(t, got, pair[0], Silent).Detail
		wantIn(t, d, pair[1]+" went quiet within 2m of it", "the power and network it shares with them")
		wantIn(t, d, theFix[1:]...)
		wantNotIn(t, d, "lab-9", "lab-3")
	}
	wantNotIn(t, alertFor(t, got, "lab-9", Silent).Detail, "went quiet within")
}

// TestSilentTogetherBounded: a room gone quiet names three of its hosts
// and counts the rest, so the detail stays one short paragraph.
func TestSilentTogetherBounded(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.FleetMin = 1000 // no fleet-silent: this is about the host's own detail
	last := t0.Add(-45 * time.Minute)
	for i := range 40 {
		f.add(healthy(fmt.Sprintf("lab-%02d", i), t0.Add(-2*time.Hour), last)...)
	}
	d := alertFor(t, f.run(t0).Alerts, "lab-00", Silent).Detail
	wantIn(t, d, "lab-01, lab-02, lab-03 and 36 more (39 hosts) went quiet within 2m of it")
	if len(d) > 1200 {
		t.Errorf("detail of %d bytes: %s", len(d), d)
	}
}

// TestGoneNamesLastWord: a host past the window says, as silent did, what
// it last said and what to do.
func TestGoneNamesLastWord(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	last := t0
	f.add(healthy("lab-1", t0.Add(-time.Hour), last)...)
	f.add(put("lab-1", last, 401, "bad-token"))
	f.run(t0.Add(time.Hour))
	got := f.run(last.Add(24*time.Hour + time.Second)).Alerts
	wantAlerts(t, "past 24h", got, "lab-1 gone")
	wantIn(t, got[0].Detail, "not seen since 2026-11-26T10:00:00Z", "its last request, at 2026-11-26 10:00Z, was a log PUT answered 401 bad-token",
		"reissue its credentials")
	wantIn(t, got[0].Detail, theFix...)
}

// TestSilentFromOldState: hosts from a state file written before the last
// request and heartbeat were kept (testdata/state-v1.gob) decode without
// them, and their silence still says what to do.
func TestSilentFromOldState(t *testing.T) {
	st := stateV1(t)
	if len(st.Hosts) == 0 {
		t.Fatal("no hosts in the old state")
	}
	tr := newTracker(newFixture(t).cfg)
	for n, h := range st.Hosts {
		if h.LastReq != nil || !h.BeatAt.IsZero() {
			t.Fatalf("%s: an old state has a last request or heartbeat: %+v", n, h)
		}
		tr.Hosts[n] = h
	}
	j := &Judge{Cfg: tr.cfg}
	var silent []Finding
	for _, f := range j.Evaluate(tr, t0.Add(2*time.Hour)).Found {
		if f.Symptom == Silent {
			silent = append(silent, f)
		}
	}
	if len(silent) == 0 {
		t.Fatal("no host silent two hours on")
	}
	for _, f := range silent {
		wantIn(t, f.Detail, theFix...)
		wantNotIn(t, f.Detail, "its last request", "heartbeat")
	}
}

package fleethealth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// report stores a host's doctor report as the receiver does: the file in
// host-health/, received at at, and the PUT's index line.
func (f *fixture) report(host string, at time.Time, body string) {
	f.t.Helper()
	dir := datadir.Dir(f.data).HostHealth()
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, host+".json")
	if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
		f.t.Fatal(err)
	}
	os.Chtimes(p, at, at)
	f.add(index.Line{TS: at, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "host-health", Status: 200, Bytes: int64(len(body))})
}

// upAll is a host heartbeating every 5 minutes in [from, to).
func upAll(host string, from, to time.Time) []index.Line {
	return every(from, to, 5*time.Minute, func(ts time.Time) index.Line { return heartbeat(host, ts, "up") })
}

const (
	failingReport = `{"schema":1,"ok":false,"summary":"2 failing: tls-expiry, token-file","checks":[{"name":"tls-expiry","status":"fail"},{"name":"token-file","status":"fail"},{"name":"clock","status":"ok"}]}`
	goodReport    = `{"schema":1,"ok":true,"summary":"ok (15 checks)","checks":[]}`
)

// TestDoctorFailing: a host whose latest report has a failing check is
// reported with the checks named; asleep it stays reported (held, not
// resolved); a good report resolves it.
func TestDoctorFailing(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(upAll("lab-1", t0.Add(-40*time.Minute), t0)...)
	f.report("lab-1", t0.Add(-30*time.Minute), failingReport)
	got := f.run(t0).Alerts
	wantAlerts(t, "a failing report", got, "lab-1 doctor-failing")
	if !strings.Contains(got[0].Detail, "fails: tls-expiry, token-file") {
		t.Fatalf("detail %q", got[0].Detail)
	}
	f.add(heartbeat("lab-1", t0.Add(time.Minute), "sleep"))
	wantAlerts(t, "asleep", f.run(t0.Add(2*time.Hour)).Alerts)
	wantAlerts(t, "still asleep", f.run(t0.Add(3*time.Hour)).Alerts)
	f.add(upAll("lab-1", t0.Add(4*time.Hour), t0.Add(5*time.Hour))...)
	f.report("lab-1", t0.Add(4*time.Hour+10*time.Minute), goodReport)
	wantAlerts(t, "a good report", f.run(t0.Add(4*time.Hour+15*time.Minute)).Alerts, "lab-1 resolved doctor-failing")
}

// TestDoctorMissing: a host booted more than 75 minutes ago with no report
// since, or seen on two days over more than 26 hours since its last report,
// has a broken timer. A laptop up for short stretches, a host back from an
// outage, and a host that never reported (a shipper without the doctor,
// in a staged rollout) are not flagged.
func TestDoctorMissing(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	// lab-boot reported yesterday, shut down, booted 2 h ago: nothing since.
	f.report("lab-boot", t0.Add(-20*time.Hour), goodReport)
	f.add(heartbeat("lab-boot", t0.Add(-3*time.Hour), "shutdown"))
	f.add(upAll("lab-boot", t0.Add(-2*time.Hour), t0.Add(time.Minute))...)
	// lab-ok did the same and reported 20 minutes after booting.
	f.report("lab-ok", t0.Add(-20*time.Hour), goodReport)
	f.add(heartbeat("lab-ok", t0.Add(-3*time.Hour), "shutdown"))
	f.add(upAll("lab-ok", t0.Add(-2*time.Hour), t0.Add(time.Minute))...)
	f.report("lab-ok", t0.Add(-100*time.Minute), goodReport)
	// lab-daily: up all along for 30 h, its last report 29 h ago.
	f.report("lab-daily", t0.Add(-29*time.Hour), goodReport)
	f.add(upAll("lab-daily", t0.Add(-30*time.Hour), t0.Add(time.Minute))...)
	// A laptop: reported at boot yesterday, 40 minutes yesterday and today.
	f.report("laptop", t0.Add(-24*time.Hour+10*time.Minute), goodReport)
	f.add(upAll("laptop", t0.Add(-24*time.Hour), t0.Add(-23*time.Hour-20*time.Minute))...)
	f.add(upAll("laptop", t0.Add(-40*time.Minute), t0.Add(time.Minute))...)
	// lab-new runs a shipper without the doctor: it never reported.
	f.add(upAll("lab-new", t0.Add(-30*time.Hour), t0.Add(time.Minute))...)
	f.run(t0.Add(-28 * time.Hour)) // the timer's runs
	got := f.run(t0).Alerts
	wantAlerts(t, "reports missing", got, "lab-boot doctor-missing", "lab-daily doctor-missing")
	if !strings.Contains(got[0].Detail, "booted 2h ago") || !strings.Contains(got[1].Detail, "seen on 2 days since its last doctor report") {
		t.Fatalf("details %q / %q", got[0].Detail, got[1].Detail)
	}
}

// TestDoctorMissingAfterOutage: hosts that reported in the morning are not
// flagged when the receiver was down for a while.
func TestDoctorMissingAfterOutage(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	for _, h := range []string{"lab-1", "lab-2", "lab-3", "lab-4"} {
		f.report(h, t0.Add(-3*time.Hour), goodReport)
		f.add(upAll(h, t0.Add(-4*time.Hour), t0.Add(-time.Hour))...)
		f.add(upAll(h, t0.Add(-20*time.Minute), t0.Add(2*time.Hour))...) // back after a 40-minute outage
	}
	all := runAll(f, t0.Add(-10*time.Minute), t0.Add(2*time.Hour), 10*time.Minute)
	for _, a := range all {
		if a.Symptom == DoctorMissing {
			t.Fatalf("after an outage: %s %s (%s)", a.Host, a.Symptom, a.Detail)
		}
	}
}

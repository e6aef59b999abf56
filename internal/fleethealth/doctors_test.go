package fleethealth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// snapshot stores a host's doctor report as the receiver does, received
// at at.
func (f *fixture) snapshot(host string, at time.Time, body string) {
	f.t.Helper()
	dir := filepath.Join(f.data, "host-health")
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, host+".json")
	if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
		f.t.Fatal(err)
	}
	os.Chtimes(p, at, at)
}

// upAll is a host heartbeating every 5 minutes in [from, to).
func upAll(host string, from, to time.Time) []index.Line {
	return every(from, to, 5*time.Minute, func(ts time.Time) index.Line { return heartbeat(host, ts, "up") })
}

const failingReport = `{"schema":1,"ok":false,"summary":"2 failing: tls-expiry, token-file","checks":[{"name":"tls-expiry","status":"fail"},{"name":"token-file","status":"fail"},{"name":"clock","status":"ok"}]}`

// TestDoctorFailing: a host whose latest report has a failing check is
// reported with the checks named, and resolved when a good report comes.
func TestDoctorFailing(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(upAll("lab-1", t0.Add(-40*time.Minute), t0.Add(30*time.Minute))...)
	f.snapshot("lab-1", t0.Add(-30*time.Minute), failingReport)
	got := f.run(t0).Alerts
	wantAlerts(t, "a failing report", got, "lab-1 doctor-failing")
	if !strings.Contains(got[0].Detail, "fails: tls-expiry, token-file") {
		t.Fatalf("detail %q", got[0].Detail)
	}
	f.snapshot("lab-1", t0.Add(10*time.Minute), `{"schema":1,"ok":true,"summary":"ok (15 checks)","checks":[]}`)
	wantAlerts(t, "a good report", f.run(t0.Add(15*time.Minute)).Alerts, "lab-1 resolved doctor-failing")
}

// TestDoctorMissing: a host up for two hours with no report since it came
// up, or up for more than a day since its last, has a broken timer; a
// laptop that is up for short stretches is not flagged, and a fleet where
// no host sends reports is not flooded.
func TestDoctorMissing(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.add(upAll("lab-boot", t0.Add(-2*time.Hour), t0.Add(time.Minute))...)
	f.add(upAll("lab-ok", t0.Add(-2*time.Hour), t0.Add(time.Minute))...)
	// A laptop: 40 minutes yesterday, 40 minutes now.
	f.add(upAll("laptop", t0.Add(-24*time.Hour), t0.Add(-23*time.Hour-20*time.Minute))...)
	f.add(upAll("laptop", t0.Add(-40*time.Minute), t0.Add(time.Minute))...)
	// Up for 30 hours, its only report at the start.
	f.add(upAll("lab-daily", t0.Add(-30*time.Hour), t0.Add(time.Minute))...)
	f.snapshot("lab-daily", t0.Add(-29*time.Hour), `{"schema":1,"ok":true,"checks":[]}`)
	f.snapshot("lab-ok", t0.Add(-100*time.Minute), `{"schema":1,"ok":true,"checks":[]}`)
	f.run(t0.Add(-28 * time.Hour)) // the timer's runs, which remember when lab-daily came up
	got := f.run(t0).Alerts
	wantAlerts(t, "reports missing", got, "lab-boot doctor-missing", "lab-daily doctor-missing")
	if !strings.Contains(got[0].Detail, "up for 2h") || !strings.Contains(got[1].Detail, "its last doctor report is from") {
		t.Fatalf("details %q / %q", got[0].Detail, got[1].Detail)
	}

	g := newFixture(t)
	g.cfg.ConfirmRuns = 1
	g.add(upAll("lab-boot", t0.Add(-5*time.Hour), t0.Add(time.Minute))...)
	wantAlerts(t, "a fleet without the doctor", g.run(t0).Alerts)
}

package fleethealth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
)

// diskFull is the storage a full-disk test's receiver has.
var diskFull = Disk{MinFree: 256 * config.MiB, Retention: config.Retention{MaxAge: config.Duration(90 * 24 * time.Hour)},
	Free: func() (int64, error) { return 100 * config.MiB.Int64(), nil }}

// runDisk is f.runLive with the receiver's storage known, as the timer's
// runs have it.
func (f *fixture) runDisk(now time.Time) *Result {
	f.t.Helper()
	res, err := Run(context.Background(), Options{DataDir: f.data, Cfg: f.cfg, Now: now, Disk: diskFull})
	if err != nil {
		f.t.Fatalf("run at %s: %v", now.Format(time.RFC3339), err)
	}
	return res
}

// TestDiskFull: the receiver refusing every host's appends with 507
// disk-full (heartbeats still pass, as they do down to a quarter of
// min_free) is one receiver-level alert that says disk full, with the free
// space and the settings to change, not a deploy to blame, and no host's
// fatal-only.
func TestDiskFull(t *testing.T) {
	f := newFixture(t)
	full := t0.Add(-20 * time.Minute)
	for i := range 4 {
		h := fmt.Sprintf("lab-%d", i)
		f.add(healthy(h, t0.Add(-time.Hour), full)...)
		f.add(every(full, t0, time.Minute, func(ts time.Time) index.Line { return put(h, ts, 507, "disk-full") })...)
		f.add(every(full, t0, 5*time.Minute, func(ts time.Time) index.Line { return heartbeat(h, ts, "up") })...)
	}
	wantAlerts(t, "run 1", f.runDisk(t0.Add(-5*time.Minute)).Alerts)
	got := f.runDisk(t0).Alerts
	wantAlerts(t, "run 2", got, "* receiver-fault")
	d := got[0].Detail
	for _, want := range []string{"disk full: 4 of 4 hosts", "507 disk-full", "limits.min_free (256MiB)", "100.0 MiB free now",
		"retention.max_age (now 90d)", "retention.max_bytes (now unset)"} {
		if !strings.Contains(d, want) {
			t.Errorf("detail lacks %q: %s", want, d)
		}
	}
	if strings.Contains(d, "deploy") {
		t.Errorf("detail blames a deploy: %s", d)
	}
}

// TestDiskFullUnindexed: below a quarter of min_free the receiver answers
// 507 with no index line, so the fleet falls silent right after its last
// disk-full refusals: fleet-silent says disk full, not the network.
func TestDiskFullUnindexed(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	full, unindexed := t0.Add(-50*time.Minute), t0.Add(-40*time.Minute)
	for i := range 4 {
		h := fmt.Sprintf("lab-%d", i)
		f.add(healthy(h, t0.Add(-2*time.Hour), full)...)
		f.add(every(full, unindexed, time.Minute, func(ts time.Time) index.Line { return put(h, ts, 507, "disk-full") })...)
	}
	got := f.runDisk(t0).Alerts
	wantAlerts(t, "silent after disk-full", got, "* fleet-silent")
	if d := got[0].Detail; !strings.HasPrefix(d, "disk full: 4 of 4 hosts") || !strings.Contains(d, "answers 507 without an index line") ||
		!strings.Contains(d, "retention.max_age") {
		t.Fatalf("detail %q", d)
	}
}

// TestSleepThenLastBatch: the sleep hook and the shipper race, so a log
// PUT can land just after the sleep beacon; the host is still asleep, not
// silent. A request later than that is the host awake again.
func TestSleepThenLastBatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // the log PUT after the beacon
		want  []string
	}{
		{"last batch 20s after", 20 * time.Second, nil},
		{"last batch a minute after", time.Minute, nil},
		{"awake 2m after", 2 * time.Minute, []string{"lab-1 silent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, state := range []string{"sleep", "shutdown"} {
				f := newFixture(t)
				beacon := t0.Add(-time.Hour)
				f.add(healthy("lab-1", t0.Add(-2*time.Hour), beacon)...)
				f.add(heartbeat("lab-1", beacon, state), put("lab-1", beacon.Add(tc.after), 201, ""))
				f.run(t0)
				wantAlerts(t, state+", an hour later", f.run(t0.Add(5*time.Minute)).Alerts, tc.want...)
			}
		})
	}
}

// TestCertExpiringThenExpired: a certificate that expires while
// cert-expiring fires is one alert, cert-expired with the date and the
// fix, on the first run after it expired; cert-expiring is never
// resolved, and the refused log PUTs add no fatal-only (within the hour:
// it repeats once an hour, as a sustained fault does).
func TestCertExpiringThenExpired(t *testing.T) {
	f := newFixture(t)
	expires := t0.Add(12 * time.Minute)
	f.add(every(t0.Add(-10*time.Minute), t0.Add(time.Hour), time.Minute, func(ts time.Time) index.Line {
		l := put("lab-1", ts, 201, "")
		if !ts.Before(expires) {
			l = put("lab-1", ts, 401, "cert-expired")
			l.Auth = false
		}
		l.CertExpires = expires.Format(time.RFC3339)
		return l
	})...)
	var all []Alert
	for now := t0; now.Before(t0.Add(time.Hour)); now = now.Add(5 * time.Minute) { // within the hour bucket
		got := f.run(now).Alerts
		if now == t0.Add(15*time.Minute) {
			wantAlerts(t, "first run after it expired", got, "lab-1 cert-expired")
			if d := got[0].Detail; !strings.Contains(d, "expired at 2026-11-26T10:12:00Z") || !strings.Contains(d, "cis490 cert-fetch") ||
				!strings.Contains(d, "cis490 enroll") {
				t.Fatalf("detail %q", d)
			}
		}
		all = append(all, got...)
	}
	wantAlerts(t, "an hour", all, "lab-1 cert-expiring", "lab-1 cert-expired")
}

// TestFixesDiffer: every refusal a host's log PUTs can meet names a fix,
// and no two reasons share one: a maintainer reading "mostly gap" is not
// sent where "mostly mismatch" would send them.
func TestFixesDiffer(t *testing.T) {
	reasons := []string{wire.ReasonCertExpired, wire.ReasonCertNotYet, wire.ReasonCertUnknown, wire.ReasonCertRevoked,
		wire.ReasonCertSuperseded, wire.ReasonNoCert, wire.ReasonBadToken, wire.ReasonNoToken, wire.ReasonHostMismatch,
		wire.ReasonCertBadUsage, wire.ReasonCredMismatch, wire.ReasonTooLarge, wire.ReasonBadName, wire.ReasonBadOffset,
		wire.ReasonBadGeneration, wire.ReasonBeforeStart, wire.ReasonNoStream, wire.ReasonBody, wire.ReasonSlowBody,
		wire.ReasonRate, wire.ReasonQuota, wire.ReasonStreams, wire.ReasonDiskFull, wire.ReasonGap, wire.ReasonMismatch,
		wire.ReasonPanic, wire.ReasonStorage, wire.ReasonOverloaded, wire.ReasonCanceled, wire.ReasonStaleCode,
		wire.ReasonBadLost}
	seen := map[string]string{}
	for _, r := range reasons {
		fix := fixFor(r)
		if fix == "" {
			t.Errorf("%s: no fix", r)
			continue
		}
		if other, ok := seen[fix]; ok {
			t.Errorf("%s and %s share a fix: %s", r, other, fix)
		}
		seen[fix] = r
	}
}

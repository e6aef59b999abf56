package fleethealth

import (
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
)

// quotaRefusal is a log PUT the receiver refused for the daily quota, with
// the numbers it writes in the index line.
func quotaRefusal(host string, ts time.Time, stream string, batch, used, limit int64) index.Line {
	l := put(host, ts, 429, wire.ReasonQuota)
	l.Stream, l.Bytes = stream, batch
	l.Quota, l.QuotaUsed, l.QuotaLimit = "day", used, limit
	return l
}

// TestOverQuota: a host refused for its daily quota honours Retry-After
// and only heartbeats; it is one over-quota alert with the numbers and
// the fix (not silent, not fatal-only), resolved once it ships again.
func TestOverQuota(t *testing.T) {
	f := newFixture(t)
	over := t0.Add(-20 * time.Minute)
	f.add(healthy("lab-1", t0.Add(-time.Hour), over)...)
	f.add(quotaRefusal("lab-1", over, "app.log", 300<<10, 1000<<20, 1000<<20),
		quotaRefusal("lab-1", over.Add(time.Second), "syslog", 200<<10, 1000<<20, 1000<<20),
		quotaRefusal("lab-1", over.Add(2*time.Second), "auth.log", 100<<10, 1000<<20, 1000<<20))
	f.add(every(over.Add(time.Minute), t0.Add(50*time.Minute), 5*time.Minute, func(ts time.Time) index.Line { return heartbeat("lab-1", ts, "up") })...)

	var all []Alert
	for now := t0; now.Before(t0.Add(45 * time.Minute)); now = now.Add(5 * time.Minute) {
		all = append(all, f.run(now).Alerts...)
	}
	wantAlerts(t, "over quota, heartbeats only", all, "lab-1 over-quota")
	d := all[0].Detail
	for _, want := range []string{"used 1000.0 MiB of its daily quota of 1000.0 MiB", "since 2026-11-26T09:40:00Z", "at least 600.0 KiB waits on it", "quota.host_bytes_per_day"} {
		if !strings.Contains(d, want) {
			t.Errorf("over-quota detail %q lacks %q", d, want)
		}
	}

	back := t0.Add(47 * time.Minute)
	f.add(put("lab-1", back, 201, ""))
	wantAlerts(t, "shipping again, run 1", f.run(t0.Add(50*time.Minute)).Alerts)
	wantAlerts(t, "shipping again, run 2", f.run(t0.Add(55*time.Minute)).Alerts, "lab-1 resolved over-quota")
}

// TestOverQuotaTotal: the total quota names its own setting and retention.
func TestOverQuotaTotal(t *testing.T) {
	q := &QuotaSeen{Since: t0, At: t0, Reason: wire.ReasonQuota, Kind: "total", Used: 5 << 30, Limit: 5 << 30}
	d := quotaDetail(q, t0.Add(time.Hour))
	for _, want := range []string{"total quota is 5.0 GiB", "quota.host_bytes_total", "retention.max_age"} {
		if !strings.Contains(d, want) {
			t.Errorf("detail %q lacks %q", d, want)
		}
	}
}

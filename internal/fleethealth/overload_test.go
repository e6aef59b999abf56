package fleethealth

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
)

// busyFleet is 20 hosts shipping every minute, turned away by an
// overloaded receiver in [from, to): they retry every 10 s and one try in
// four gets through, except lab-00..02, refused every time.
func busyFleet(f *fixture, from, to, end time.Time) {
	var lines []index.Line
	for i := range 20 {
		h := fmt.Sprintf("lab-%02d", i)
		lines = append(lines, healthy(h, t0.Add(-time.Hour), from)...)
		n := 0
		lines = append(lines, every(from, to, 10*time.Second, func(ts time.Time) index.Line {
			if n++; n%4 == 0 && i >= 3 {
				return put(h, ts, 201, "")
			}
			l := put(h, ts, 503, wire.ReasonOverloaded)
			l.Quota, l.QuotaUsed, l.QuotaLimit = wire.LimitInflight, 64<<20, 64<<20
			return l
		})...)
		lines = append(lines, healthy(h, to, end)...)
	}
	f.addInOrder(lines...)
}

// TestReceiverOverloaded: 50 minutes of 503 overloaded to most hosts is
// one receiver-level alert that says overloaded, with the limit and the
// load, then one resolved; no host's fatal-only, though lab-00..02 got
// nothing through for 50 minutes.
func TestReceiverOverloaded(t *testing.T) {
	f := newFixture(t)
	end := t0.Add(90 * time.Minute)
	busyFleet(f, t0, t0.Add(50*time.Minute), end)
	all := runAll(f, t0.Add(-10*time.Minute), end, 5*time.Minute)
	want := []string{"11-26T10:15 * receiver-fault", "11-26T11:00 * resolved receiver-fault"}
	if got := summary(all); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d := all[0].Detail
	for _, s := range []string{"overloaded: 20 of 20 hosts", "503 overloaded for at least 10m", "limits.max_inflight (64.0 MiB)",
		"was full (64.0 MiB in flight)", "raise limits.max_inflight", "a minute from the fleet"} {
		if !strings.Contains(d, s) {
			t.Errorf("detail lacks %q: %s", s, d)
		}
	}
}

// TestOverloadRiddenOut: seven minutes of 503 overloaded across a run,
// after which the hosts catch up, raises nothing.
func TestOverloadRiddenOut(t *testing.T) {
	f := newFixture(t)
	end := t0.Add(time.Hour)
	busyFleet(f, t0.Add(3*time.Minute), t0.Add(10*time.Minute), end)
	if all := runAll(f, t0.Add(-10*time.Minute), end, 5*time.Minute); len(all) != 0 {
		t.Fatalf("alerts %v; want none for an overload the hosts rode out", summary(all))
	}
}

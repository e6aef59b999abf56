package fleethealth

import (
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
)

// TestLostLogs: a loss the shipper told the receiver of is one lost-logs
// alert at the next run (its retry, answered 200, is the same loss), with
// how much, of which stream, why and the fix; a second loss is a second
// alert; neither repeats on the hour nor is ever resolved.
func TestLostLogs(t *testing.T) {
	f := newFixture(t)
	end := t0.Add(26 * time.Hour)
	lines := healthy("lab-1", t0.Add(-time.Hour), end)
	loss := func(ts time.Time, status int, n int64) index.Line {
		l := put("lab-1", ts, status, "")
		l.Stream, l.Lost, l.LostCause = "syslog", n, wire.LostRotatedAway
		return l
	}
	lines = append(lines, loss(t0.Add(3*time.Minute+10*time.Second), 201, 1250000),
		loss(t0.Add(3*time.Minute+40*time.Second), 200, 1250000), // the retry of the PUT that told it
		loss(t0.Add(5*time.Hour+2*time.Minute), 201, 4096))
	f.addInOrder(lines...)
	all := runAll(f, t0, end, 5*time.Minute)
	want := []string{"11-26T10:05 lab-1 lost-logs", "11-26T15:05 lab-1 lost-logs"}
	if got := summary(all); strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("alerts %v; want %v", got, want)
	}
	for _, s := range []string{"lost at least 1.2 MiB of stream syslog for good at 2026-11-26T10:03:10Z",
		"deleted (rotated past logrotate's count) before the rest was read", "keep more generations"} {
		if !strings.Contains(all[0].Detail, s) {
			t.Errorf("first alert lacks %q: %s", s, all[0].Detail)
		}
	}
	if !strings.Contains(all[1].Detail, "2 losses in the last day") {
		t.Errorf("second alert does not count the day's losses: %s", all[1].Detail)
	}
}

// TestLostLogsOfUnknownSize: a loss the shipper could not count (a
// journal that restarted its numbering) still alerts, saying so.
func TestLostLogsOfUnknownSize(t *testing.T) {
	f := newFixture(t)
	l := put("lab-1", t0.Add(2*time.Minute), 201, "")
	l.Stream, l.LostCause = "journal", wire.LostVacuumed
	f.addInOrder(append(healthy("lab-1", t0.Add(-time.Hour), t0.Add(time.Hour)), l)...)
	all := runAll(f, t0, t0.Add(time.Hour), 5*time.Minute)
	if len(all) != 1 || all[0].Symptom != LostLogs || !strings.Contains(all[0].Detail, "lost an unknown amount of stream journal") {
		t.Fatalf("alerts %v; want one lost-logs of an unknown amount", summary(all))
	}
}

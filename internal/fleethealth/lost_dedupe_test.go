package fleethealth

import (
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// TestLostDedupeKeepsTheDay: a retried PUT telling a loss again, arriving
// when an older loss has aged out, is the same loss: the day's losses are
// each counted once.
func TestLostDedupeKeepsTheDay(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h := &Host{}
	line := func(at time.Time, stream string, n int64) *index.Line {
		return &index.Line{TS: at, Stream: stream, Lost: n, LostCause: "rotated-away"}
	}
	h.lost(line(t0, "old", 1))
	h.lost(line(t0.Add(23*time.Hour+20*time.Minute), "a", 100))
	h.lost(line(t0.Add(23*time.Hour+30*time.Minute), "b", 200))
	h.lost(line(t0.Add(24*time.Hour+10*time.Minute), "b", 200)) // the retry; "old" aged out
	n := 0
	for _, l := range h.Losses {
		if l.Stream == "a" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("losses %+v; want a then b", h.Losses)
	}
}

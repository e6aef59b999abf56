package search

import (
	"context"
	"sync"
	"time"
)

// pacer holds a search's workers together to Request.Share of one CPU
// while Request.Busy says ingest is under way: a token bucket filled at
// Share seconds of scanning a second, emptied by each block's scan. One
// bucket for all workers, so a search takes its share whether one stream
// is left to scan or four are, and a worker that waited for the caller
// does not pay for it.
type pacer struct {
	share float64
	busy  func() bool
	mu    sync.Mutex
	at    time.Time     // when tokens was last brought up to date
	tok   time.Duration // scanning allowed now; below zero, owed
}

// paceBurst is the most scanning a search banks while it waits for its
// caller or ingest is idle: enough for a block or two, not for a burst
// that would take ingest's CPU.
const paceBurst = 20 * time.Millisecond

// newPacer returns nil (no pacing) unless share is within (0, 1).
func newPacer(share float64, busy func() bool) *pacer {
	if share <= 0 || share >= 1 {
		return nil
	}
	return &pacer{share: share, busy: busy}
}

// scanned takes a block's scan of d and rests as long as the search owes,
// or until ctx ends.
func (p *pacer) scanned(ctx context.Context, d time.Duration) error {
	if p == nil || p.busy != nil && !p.busy() {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if !p.at.IsZero() {
		p.tok = min(paceBurst, p.tok+time.Duration(float64(now.Sub(p.at))*p.share))
	}
	p.at = now
	p.tok -= d
	var rest time.Duration
	if p.tok < 0 {
		rest = time.Duration(float64(-p.tok) / p.share)
	}
	p.mu.Unlock()
	if rest <= 0 {
		return nil
	}
	t := time.NewTimer(rest)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package search

import (
	"context"
	"runtime"
	"runtime/metrics"
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
	// waiting says how many goroutines wait for a CPU (cpuWaiting): when
	// they keep doing, ingest wants the CPU the search would take, and a
	// block costs the search up to contendedCost times its scan.
	waiting func() float64
	mu      sync.Mutex
	avg     float64       // goroutines waiting, a moving average over blocks
	at      time.Time     // when tokens was last brought up to date
	tok     time.Duration // scanning allowed now; below zero, owed
}

// paceBurst is the most scanning a search banks while it waits for its
// caller or ingest is idle: enough for a block or two, not for a burst
// that would take ingest's CPU.
const paceBurst = 20 * time.Millisecond

// contendedCost is how many times its scan a block costs the search
// while goroutines keep waiting for a CPU: it then takes a fifth of its
// share. bench search measured a share of 0.25 taking 14-19 % of a
// saturated store's ingest, and 0.05 7 % (bench/README.md). The cost
// ramps up from waitingLight goroutines waiting per CPU, on average, to
// waitingHeavy: ingest's writers wake together after each sync, so a few
// wait even at a light load (1-1.7 per CPU at a quarter of the store's
// saturation in bench search, 5-14 at saturation).
const (
	contendedCost = 5
	waitingLight  = 2
	waitingHeavy  = 4
)

// newPacer returns nil (no pacing) unless share is within (0, 1).
func newPacer(share float64, busy func() bool) *pacer {
	if share <= 0 || share >= 1 {
		return nil
	}
	return &pacer{share: share, busy: busy, waiting: cpuWaiting()}
}

// cpuWaiting returns a func that says how many goroutines of this process
// are ready to run but wait for a CPU, from the scheduler's counts
// (runtime/metrics: its run queues, read under its lock, without stopping
// the world). The caller serializes its calls.
func cpuWaiting() func() float64 {
	s := []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
	return func() float64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(s[0].Value.Uint64())
	}
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
	if p.waiting != nil {
		// A count at one instant says little (ingest's writers wake
		// together after each sync): averaged over the last ten or so
		// blocks, a CPU that stays wanted.
		p.avg += (p.waiting() - p.avg) / 8
		perCPU := p.avg / float64(runtime.GOMAXPROCS(0))
		d = time.Duration(float64(d) * (1 + (contendedCost-1)*min(1, max(0, perCPU-waitingLight)/(waitingHeavy-waitingLight))))
	}
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

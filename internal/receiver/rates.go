package receiver

import (
	"context"
	"math"
	"sync"
	"time"
)

// rates limits each host's requests a second with a token bucket, as Loki
// limits each tenant's: on a 2-core receiver a flood of tiny PUTs costs
// CPU long before it costs disk. A host over its rate gets 429 with
// Retry-After (reason rate); the refusals of one host in one minute are
// folded into one index line after the first (refusals.go).
type rates struct {
	rate     float64 // tokens a second; 0: no limit
	burst    float64
	holdMost time.Duration // the longest a refusal is held
	// maxKeys bounds the buckets (0: no bound); past it, new keys share
	// one, so callers from many addresses cost no more memory.
	maxKeys int

	mu     sync.Mutex
	byHost map[string]*bucket
	swept  time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends a token of host's (or of any key: an address), or says how
// long until one is due.
func (r *rates) take(host string, now time.Time) (time.Duration, bool) {
	if r.rate <= 0 {
		return 0, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byHost == nil {
		r.byHost = map[string]*bucket{}
	}
	r.sweep(now)
	b := r.byHost[host]
	if b == nil && r.maxKeys > 0 && len(r.byHost) >= r.maxKeys {
		host = "*"
		b = r.byHost[host]
	}
	if b == nil {
		b = &bucket{tokens: r.burst, at: now}
		r.byHost[host] = b
	}
	b.tokens = min(r.burst, b.tokens+now.Sub(b.at).Seconds()*r.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / r.rate * float64(time.Second)), false
}

// sweep drops, once a minute, the buckets that have filled again: a full
// bucket is what a host without one gets.
func (r *rates) sweep(now time.Time) {
	if now.Sub(r.swept) < time.Minute {
		return
	}
	r.swept = now
	for h, b := range r.byHost {
		if b.tokens+now.Sub(b.at).Seconds()*r.rate >= r.burst {
			delete(r.byHost, h)
		}
	}
}

// hold waits d, at most holdMost (Server's, shorter in tests), or until
// ctx ends.
func (r *rates) hold(ctx context.Context, d time.Duration) {
	t := time.NewTimer(min(d, r.holdMost))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// retryAfter is d in whole seconds, at least 1, for Retry-After.
func retryAfter(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

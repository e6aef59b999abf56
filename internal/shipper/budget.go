package shipper

import "sync"

// budget bounds the bytes all streams together hold read but not yet
// acknowledged, so the shipper's memory does not grow with the number of
// streams that have a backlog: a stream reads only what the budget grants
// and gives it back as the receiver acknowledges.
type budget struct {
	mu      sync.Mutex
	free    int64
	changed chan struct{} // closed (and replaced) when bytes are given back
}

func newBudget(n int64) *budget {
	return &budget{free: n, changed: make(chan struct{})}
}

// take grants up to want bytes (maybe 0) and a channel that is closed when
// more are given back, to wait on when the grant was short.
func (b *budget) take(want int) (int, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(int64(want), b.free)
	b.free -= n
	return int(n), b.changed
}

// give returns n bytes and wakes the streams waiting for them.
func (b *budget) give(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.free += int64(n)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

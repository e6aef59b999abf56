package receiver

import (
	"context"
	"sync"
)

// budget bounds the bytes of request bodies held in memory at once, so a
// burst of large uploads answers 503 instead of exhausting a small receiver.
type budget struct {
	mu    sync.Mutex
	free  int64
	freed chan struct{} // closed and replaced on every release
}

func newBudget(n int64) *budget { return &budget{free: n, freed: make(chan struct{})} }

func (b *budget) acquire(ctx context.Context, n int64) bool {
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return true
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

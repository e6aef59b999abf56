package receiver

import (
	"context"
	"sync"
)

// budget bounds the bytes of request bodies held in memory at once, so a
// burst of large uploads answers 503 instead of exhausting a small receiver.
type budget struct {
	mu    sync.Mutex
	size  int64
	free  int64
	freed chan struct{} // closed and replaced on every release
}

func newBudget(n int64) *budget { return &budget{size: n, free: n, freed: make(chan struct{})} }

// used is how much of it is held now, for a refusal's index line.
func (b *budget) used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}

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

// bodyPool recycles request body buffers of the common sizes (up to 1 MiB,
// a shipper's default batch), so steady ingest makes little garbage.
type bodyPool struct {
	pools [bodyClasses]sync.Pool
}

const (
	minBodyClass = 12 // 4 KiB
	bodyClasses  = 9  // 4 KiB .. 1 MiB
)

func bodyClass(n int) int {
	c := 0
	for size := 1 << minBodyClass; size < n; size <<= 1 {
		c++
	}
	return c
}

// get returns an empty buffer with room for n bytes.
func (p *bodyPool) get(n int) []byte {
	c := bodyClass(n)
	if c >= bodyClasses {
		return make([]byte, 0, n)
	}
	if b, ok := p.pools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<(minBodyClass+c))
}

// put returns b for reuse; nothing may hold on to it.
func (p *bodyPool) put(b []byte) {
	c := bodyClass(cap(b))
	if c >= bodyClasses || cap(b) != 1<<(minBodyClass+c) {
		return
	}
	p.pools[c].Put(&b)
}

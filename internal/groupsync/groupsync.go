// Package groupsync is the group commit shared by the store and the index: many
// writers append to their files, and one loop makes all of it durable with a
// single sync per file per round, then releases every writer whose bytes that
// round covered. One fdatasync acknowledges many concurrent appends from many
// hosts, so durability costs little more than no durability under load.
package groupsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// ErrFailed is wrapped by every error after a sync failed. After a failed
// fsync the kernel may have dropped the dirty pages, so nothing written since
// the last good sync can be trusted: the owner must stop and recover.
var ErrFailed = errors.New("storage sync failed")

// Ticket identifies a write; Wait(t) returns once it is durable.
type Ticket uint64

// Stats counts the committer's work, for benchmarks and metrics.
type Stats struct {
	Rounds  uint64        // sync rounds
	Tickets uint64        // writes made durable
	Busy    time.Duration // time spent syncing
}

// Group is a group committer. The zero value is not usable; use New.
type Group struct {
	roundMu sync.Mutex // held while a round syncs its files
	mu      sync.Mutex
	next    Ticket // last ticket handed out
	durable Ticket // every ticket <= durable is on disk
	dirty   map[vfs.File]struct{}
	err     error
	done    chan struct{} // closed and replaced whenever durable or err changes
	kick    chan struct{}
	stats   Stats
	// pending is when the oldest write not yet in a round was recorded;
	// syncing when the oldest write of the round now syncing was.
	pending time.Time
	syncing time.Time
	observe atomic.Pointer[func(Round)]
}

// Round describes one sync round, for metrics.
type Round struct {
	Sync   time.Duration // the fsyncs, files in parallel
	Oldest time.Duration // how long the round's oldest write waited to be durable
}

// Observe has f called after every successful round (from the round's
// goroutine: f must be quick).
func (g *Group) Observe(f func(Round)) { g.observe.Store(&f) }

// Pending is how long the oldest write not yet durable has waited (0 when
// everything is on disk).
func (g *Group) Pending(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	oldest := g.syncing // a stalled fsync is lag too
	if oldest.IsZero() || (!g.pending.IsZero() && g.pending.Before(oldest)) {
		oldest = g.pending
	}
	if oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(oldest))
}

// New makes a group committer; call Run to start its loop.
func New() *Group {
	return &Group{dirty: map[vfs.File]struct{}{}, done: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Wrote records that f holds unsynced bytes written before this call, and
// returns the ticket to Wait on. Call it after the write, not before.
func (g *Group) Wrote(f vfs.File) Ticket {
	g.mu.Lock()
	g.next++
	t := g.next
	g.dirty[f] = struct{}{}
	if g.pending.IsZero() {
		g.pending = time.Now()
	}
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return t
}

// Durable waits until a write is on disk. Nothing may be acknowledged
// before it returns nil.
type Durable func(ctx context.Context) error

// Durable returns the wait for t.
func (g *Group) Durable(t Ticket) Durable {
	return func(ctx context.Context) error { return g.Wait(ctx, t) }
}

// IsDurable reports whether t is on disk, without waiting.
func (g *Group) IsDurable(t Ticket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return t <= g.durable
}

// Last returns the newest ticket handed out: waiting on it waits for every
// write recorded so far.
func (g *Group) Last() Ticket {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.next
}

// Wait blocks until t is durable, the group failed, or ctx ends.
func (g *Group) Wait(ctx context.Context, t Ticket) error {
	for {
		g.mu.Lock()
		durable, err, done := g.durable, g.err, g.done
		g.mu.Unlock()
		if err != nil {
			return err
		}
		if durable >= t {
			return nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("wait for durable write: %w", ctx.Err())
		}
	}
}

// Err reports the failure that stopped the group, if any.
func (g *Group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Stats returns counters.
func (g *Group) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// Forget syncs f and drops it from the dirty set, so its owner may close it
// (an index file rotated out at midnight). The owner must hold its own lock,
// so that nothing more is written to f; Forget returns once no round is still
// syncing f.
func (g *Group) Forget(f vfs.File) error {
	if err := f.Sync(); err != nil {
		g.fail(fmt.Errorf("%w: %w", ErrFailed, err))
		return g.Err()
	}
	g.mu.Lock()
	delete(g.dirty, f)
	g.mu.Unlock()
	// Wait out a round that took f before we removed it.
	g.roundMu.Lock()
	defer g.roundMu.Unlock()
	return nil
}

// Run syncs until ctx ends, then makes a last round and returns.
func (g *Group) Run(ctx context.Context) {
	for {
		select {
		case <-g.kick:
			g.round()
		case <-ctx.Done():
			g.round()
			return
		}
	}
}

// round syncs every dirty file once and advances durable over every ticket
// handed out before the round began.
func (g *Group) round() {
	g.roundMu.Lock()
	defer g.roundMu.Unlock()
	g.mu.Lock()
	if g.err != nil || g.next == g.durable {
		g.mu.Unlock()
		return
	}
	target := g.next
	files := make([]vfs.File, 0, len(g.dirty))
	for f := range g.dirty {
		files = append(files, f)
	}
	clear(g.dirty)
	since := g.pending
	g.pending = time.Time{} // writes from now on wait for the next round
	g.syncing = since
	g.mu.Unlock()

	start := time.Now()
	var err error
	if len(files) == 1 {
		err = files[0].Sync()
	} else {
		// Different files flush in parallel: the device merges them.
		errs := make([]error, len(files))
		var wg sync.WaitGroup
		for i, f := range files {
			wg.Go(func() { errs[i] = f.Sync() })
		}
		wg.Wait()
		err = errors.Join(errs...)
	}
	if err != nil {
		g.fail(fmt.Errorf("%w: %w", ErrFailed, err))
		return
	}
	took := time.Since(start)
	g.mu.Lock()
	writes := int(target - g.durable)
	g.stats.Rounds++
	g.stats.Tickets += uint64(writes)
	g.stats.Busy += took
	g.durable = target
	g.syncing = time.Time{}
	close(g.done)
	g.done = make(chan struct{})
	g.mu.Unlock()
	if f := g.observe.Load(); f != nil {
		(*f)(Round{Sync: took, Oldest: time.Since(since)})
	}
}

// Fail stops the group: a sync of one of its files failed outside a round
// (a segment sealed at rotation, an index file synced on its own). After a
// failed fsync the kernel may have dropped the dirty pages and a later fsync
// can succeed without them, so nothing may be acknowledged any more.
func (g *Group) Fail(err error) {
	g.fail(fmt.Errorf("%w: %w", ErrFailed, err))
}

func (g *Group) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
		close(g.done)
		g.done = make(chan struct{})
	}
}

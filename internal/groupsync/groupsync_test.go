package groupsync

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/vfs/crashfs"
)

func start(t *testing.T) *Group {
	t.Helper()
	g := New()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { g.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return g
}

// TestWaitMeansDurable: whatever a writer waited for survives power loss,
// and many writers share few syncs.
func TestWaitMeansDurable(t *testing.T) {
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	g := start(t)
	raw, err := fsys.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// A sync that takes as long as a disk's: writers arrive while one is
	// running (with an instant one, a busy machine can serialise them all).
	f := slowSync{raw}
	fsys.SyncDir("/")
	var mu sync.Mutex
	var size int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				mu.Lock()
				f.WriteAt([]byte("0123456789"), size)
				size += 10
				tk := g.Wrote(f)
				mu.Unlock()
				if err := g.Wait(context.Background(), tk); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := g.Stats()
	if st.Tickets != 640 || st.Rounds >= 640 {
		t.Fatalf("stats %+v: want 640 writes in fewer rounds than writes", st)
	}
	fsys.Crash(crashfs.DropUnsynced)
	if got := len(fsys.Files()["/a"]); got != 6400 {
		t.Fatalf("after power loss the file has %d bytes, 6400 were waited for", got)
	}
}

type slowSync struct{ vfs.File }

func (s slowSync) Sync() error {
	time.Sleep(time.Millisecond)
	return s.File.Sync()
}

func TestSyncFailureFailsEveryone(t *testing.T) {
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	g := start(t)
	f, _ := fsys.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o600)
	f.WriteAt([]byte("x"), 0)
	fsys.FailAfter(1, syscall.EIO)
	if err := g.Wait(context.Background(), g.Wrote(f)); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("wait after a failed sync = %v; want ErrFailed wrapping EIO", err)
	}
	f.WriteAt([]byte("y"), 1)
	if err := g.Wait(context.Background(), g.Wrote(f)); !errors.Is(err, ErrFailed) {
		t.Fatalf("later wait = %v; a failed group stays failed", err)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	g := New() // not running: nothing becomes durable
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	f, _ := fsys.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o600)
	if err := g.Wait(ctx, g.Wrote(f)); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait = %v; want context.Canceled", err)
	}
}

type stuckSync struct {
	vfs.File
	entered, release chan struct{}
}

func (s stuckSync) Sync() error {
	close(s.entered)
	<-s.release
	return s.File.Sync()
}

// TestPendingCountsAStalledSync: while an fsync hangs, the writes it
// covers are lag (the index-lag metric must rise when the disk stalls).
func TestPendingCountsAStalledSync(t *testing.T) {
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	g := start(t)
	raw, _ := fsys.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o600)
	f := stuckSync{raw, make(chan struct{}), make(chan struct{})}
	if g.Pending(time.Now()) != 0 {
		t.Fatal("lag with nothing written")
	}
	f.WriteAt([]byte("x"), 0)
	tk := g.Wrote(f)
	<-f.entered // the round is syncing, nothing else pending
	if lag := g.Pending(time.Now().Add(time.Second)); lag < time.Second {
		t.Fatalf("lag %s while the sync hangs; want at least 1s", lag)
	}
	close(f.release)
	if err := g.Wait(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if lag := g.Pending(time.Now()); lag != 0 {
		t.Fatalf("lag %s after the sync", lag)
	}
}

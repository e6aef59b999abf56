package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/vfs/crashfs"
)

// runLater starts g's loop when the returned func is called; cleanup stops it.
func runLater(t *testing.T, g *groupsync.Group) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() { wg.Go(func() { g.Run(ctx) }) }
}

// TestRetentionSnapshotsOnlyDurableLengths: streams.json must never record
// a length whose bytes are not on disk, or after a power loss the stream
// would claim bytes it cannot serve and refuse the host's retry forever.
func TestRetentionSnapshotsOnlyDurableLengths(t *testing.T) {
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	g := groupsync.New()
	start := runLater(t, g)
	s, err := Open(Options{Dir: "/d", FS: fsys, SegmentSize: 1000, MaxBytes: 1, Sync: g})
	if err != nil {
		t.Fatal(err)
	}
	k := Key{"h", "s"}
	c := bytes.Repeat([]byte("c"), 300)
	s.Begin(t.Context(), k, 0, Gen{}, bytes.Repeat([]byte("a"), 900))
	s.Begin(t.Context(), k, 900, Gen{}, bytes.Repeat([]byte("b"), 300)) // seals the first segment
	s.Begin(t.Context(), k, 1200, Gen{}, c)                             // not synced yet, not acknowledged
	go func() { time.Sleep(100 * time.Millisecond); start() }()         // the commit round runs only later
	if _, err := s.Retain(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash(crashfs.DropUnsynced)

	g2 := groupsync.New()
	runLater(t, g2)()
	s2, err := Open(Options{Dir: "/d", FS: fsys, SegmentSize: 1000, Sync: g2})
	if err != nil {
		t.Fatal(err)
	}
	info, _, _ := s2.Stat(t.Context(), k)
	if _, _, err := s2.Read(t.Context(), k, info.Start, int(info.Length-info.Start)); err != nil {
		t.Fatalf("after power loss the stream claims [%d,%d) but cannot read it: %v", info.Start, info.Length, err)
	}
	if _, _, err := s2.Append(context.Background(), k, 1200, Gen{}, c); err != nil {
		t.Fatalf("the host's retry of its unacknowledged bytes = %v; want it stored or confirmed", err)
	}
}

// TestFailedSealStopsTheGroup: a failed fsync when a full segment is sealed
// fails the commit group, so nothing is acknowledged after it.
func TestFailedSealStopsTheGroup(t *testing.T) {
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	g := groupsync.New()
	runLater(t, g)()
	s, err := Open(Options{Dir: "/d", FS: fsys, SegmentSize: 1000, Sync: g})
	if err != nil {
		t.Fatal(err)
	}
	k := Key{"h", "s"}
	if _, _, err := s.Append(context.Background(), k, 0, Gen{}, bytes.Repeat([]byte("a"), 900)); err != nil {
		t.Fatal(err)
	}
	fsys.FailAfter(1, syscall.EIO)      // the seal's fsync
	b := bytes.Repeat([]byte("b"), 100) // does not fit: the full segment is sealed first
	if _, err := s.Begin(t.Context(), k, 900, Gen{}, b); !errors.Is(err, groupsync.ErrFailed) {
		t.Fatalf("write during a failed seal = %v; want ErrFailed", err)
	}
	if g.Err() == nil {
		t.Fatal("the group still acknowledges writes after a failed seal")
	}
	if _, _, err := s.Append(context.Background(), k, 900, Gen{}, b); !errors.Is(err, groupsync.ErrFailed) {
		t.Fatalf("a later append = %v; want ErrFailed", err)
	}
}

// TestRefusalsLeaveNoStream: a refused write to a new stream does not
// create it (no memory for names never written; HEAD stays 404).
func TestRefusalsLeaveNoStream(t *testing.T) {
	s := newTestStore(t, Options{HostBytesPerDay: 10 + AppendCost})
	for _, name := range []string{"a", "b", "c"} {
		if _, err := s.Begin(t.Context(), Key{"h", name}, 5, Gen{}, []byte("x")); err == nil {
			t.Fatal("a gap was accepted")
		}
	}
	if _, err := s.Begin(t.Context(), Key{"h", "big"}, 0, Gen{}, make([]byte, 11)); !errors.Is(err, ErrQuota) {
		t.Fatalf("over quota = %v", err)
	}
	if _, _, err := s.Append(context.Background(), Key{"h", "empty"}, 0, Gen{}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(t.Context(), "h"); len(got) != 0 {
		t.Fatalf("refused writes left streams behind: %+v", got)
	}
	if _, ok, _ := s.Stat(t.Context(), Key{"h", "a"}); ok {
		t.Fatal("Stat finds a stream that was never written")
	}
	if _, _, err := s.Append(context.Background(), Key{"h", "a"}, 0, Gen{}, []byte("x")); err != nil {
		t.Fatalf("writing the stream properly afterwards: %v", err)
	}
}

// TestReadsOnlyDurableBytes: bytes written but not yet synced are neither
// read nor counted in a stream's length for readers (a follower could
// print bytes a crash then takes back); once the group commit syncs them,
// they are.
func TestReadsOnlyDurableBytes(t *testing.T) {
	g := groupsync.New()
	run := runLater(t, g) // not running yet: nothing becomes durable
	s, err := Open(Options{Dir: t.TempDir(), Sync: g})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := Key{"h", "s"}
	b, err := s.Begin(t.Context(), k, 0, Gen{}, []byte("not yet synced\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, info, err := s.Read(t.Context(), k, 0, 100); err != nil || len(got) != 0 || info.Length != 0 {
		t.Fatalf("before the sync: read %q, length %d, %v; want nothing", got, info.Length, err)
	}
	if infos, _ := s.List(t.Context(), "h"); len(infos) != 1 || infos[0].Length != 0 {
		t.Fatalf("List before the sync: %+v; want a length of 0", infos)
	}
	// HEAD (a shipper's resync) counts them: its generation must agree.
	if info, _, _ := s.Stat(t.Context(), k); info.Length != 15 {
		t.Fatalf("Stat's length %d before the sync; want the 15 written", info.Length)
	}
	if off, err := s.OffsetAt(t.Context(), k, time.Time{}); err != nil || off != 0 {
		t.Fatalf("OffsetAt before the sync = %d, %v; want 0", off, err)
	}
	// A host resyncing to that length sends the bytes again: found held.
	if again, err := s.Begin(t.Context(), k, 0, Gen{}, []byte("not yet synced\n")); err != nil || again.Outcome != Duplicate || again.Appended != 0 {
		t.Fatalf("resending the unsynced bytes: %+v %v; want a Duplicate", again, err)
	}
	run()
	if err := b.Durable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, info, err := s.Read(t.Context(), k, 0, 100); err != nil || string(got) != "not yet synced\n" || info.Length != 15 {
		t.Fatalf("after the sync: read %q, length %d, %v", got, info.Length, err)
	}
}

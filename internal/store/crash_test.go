package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/testseed"
	"github.com/cis490/cis490/internal/vfs/crashfs"
)

// content is what host k would send at offset off: any prefix of a stream
// can be checked, and a byte nobody sent (a zero, a torn record) cannot pass.
func content(seed uint64, k int, off int64) byte {
	x := seed ^ uint64(k)<<48 ^ uint64(off)*0x9e3779b97f4a7c15
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return byte(x)
}

func fill(seed uint64, k int, off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = content(seed, k, off+int64(i))
	}
	return b
}

// TestPowerLoss runs the store over a file layer that loses power: at random
// points everything not synced is dropped, torn or garbled, and sometimes a
// write or a sync fails first. After every recovery each stream must hold
// every acknowledged byte and nothing the host did not send.
func TestPowerLoss(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	fsys := crashfs.New(rand.New(rand.NewPCG(seed^0xabc, 7)))
	const streams = 5
	acked := make([]int64, streams) // longest acknowledged length per stream
	rounds := 150
	if testing.Short() {
		rounds = 40
	}
	for round := 0; round < rounds; round++ {
		g := groupsync.New()
		ctx, cancel := context.WithCancel(context.Background())
		var gwg sync.WaitGroup
		gwg.Go(func() { g.Run(ctx) })
		s, err := Open(Options{Dir: "/data/logs", FS: fsys, SegmentSize: int64(2048 + rng.IntN(8192)), Sync: g})
		if err != nil {
			t.Fatalf("round %d: recovery failed: %v", round, err)
		}
		// Check what survived, and resync like a host would.
		lengths := make([]int64, streams)
		for k := 0; k < streams; k++ {
			key := Key{fmt.Sprintf("h%d", k), "s"}
			info, ok, _ := s.Stat(t.Context(), key)
			if !ok {
				if acked[k] > 0 {
					t.Fatalf("round %d: stream %d lost (acknowledged %d bytes)", round, k, acked[k])
				}
				continue
			}
			if info.Length < acked[k] {
				t.Fatalf("round %d: stream %d has %d bytes, %d were acknowledged", round, k, info.Length, acked[k])
			}
			got, _, err := s.Read(t.Context(), key, 0, int(info.Length)+1)
			if err != nil {
				t.Fatalf("round %d: read stream %d: %v", round, k, err)
			}
			for i, b := range got {
				if b != content(seed, k, int64(i)) {
					t.Fatalf("round %d: stream %d byte %d is %#x, the host sent %#x", round, k, i, b, content(seed, k, int64(i)))
				}
			}
			lengths[k] = info.Length
			acked[k] = info.Length // recovered bytes are durable now
		}

		// Append concurrently until the power goes out.
		if rng.IntN(4) == 0 {
			var fault error = syscall.ENOSPC
			if rng.IntN(2) == 0 {
				fault = syscall.EIO
			}
			fsys.FailAfter(1+rng.IntN(40), fault)
		}
		crashAt := int64(1 + rng.IntN(60))
		var ops atomic.Int64
		var crashOnce sync.Once
		// A third of the rounds end with the process killed, not the power:
		// the page cache keeps what was written, synced or not, and the next
		// round's store must make it durable before reporting it.
		killOnly := rng.IntN(3) == 0
		crash := func() {
			crashOnce.Do(func() {
				if killOnly {
					fsys.Kill()
				} else {
					fsys.Crash(crashfs.RandomMode(rng))
				}
			})
		}
		var mu sync.Mutex // guards acked
		var wg sync.WaitGroup
		for k := 0; k < streams; k++ {
			wrng := rand.New(rand.NewPCG(seed+uint64(round*streams+k), 3))
			off := lengths[k]
			wg.Go(func() {
				key := Key{fmt.Sprintf("h%d", k), "s"}
				for ops.Add(1) <= crashAt {
					n := 1 + wrng.IntN(3000)
					if wrng.IntN(8) == 0 { // large records are written in two parts
						n = splitWrite + wrng.IntN(20000)
					}
					from := off
					if wrng.IntN(5) == 0 && off > 0 { // a retry overlapping stored bytes
						from = off - int64(wrng.IntN(int(min(off, 500))+1))
					}
					_, length, err := s.Append(ctx, key, from, Gen{ID: "g", Start: 0}, fill(seed, k, from, n))
					if err != nil {
						var ce *ConflictError
						if errors.As(err, &ce) {
							t.Errorf("stream %d: unexpected conflict %v", k, err)
						}
						return // the disk failed or the power went: stop like a dying process
					}
					mu.Lock()
					acked[k] = max(acked[k], length)
					mu.Unlock()
					off = length
				}
				crash()
			})
		}
		wg.Wait()
		crash()
		s.stopIndexer(false) // a dead process writes no index file
		cancel()
		gwg.Wait()
		fsys.FailAfter(0, nil)
		if t.Failed() {
			t.FailNow()
		}
	}
}

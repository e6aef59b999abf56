package receiverd

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testseed"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/vfs/crashfs"
)

// TestStoragePowerLoss drives the store and the journaled index the way the
// server does (bytes, then the request's index line, then one wait) over a
// file layer that loses power or kills the process at random points. After
// every recovery: every acknowledged request has exactly one index line, no
// request has two, the lines are numbered without gaps (so the day files
// and the journal agree), and every acknowledged byte is stored.
func TestStoragePowerLoss(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	fsys := crashfs.New(rand.New(rand.NewPCG(seed, 12)))
	day := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	acked := map[string]bool{}     // request id → acknowledged
	ackedLen := map[string]int64{} // stream → acknowledged length
	var reqs atomic.Int64
	rounds := 80
	if testing.Short() {
		rounds = 20
	}
	for round := 0; round < rounds; round++ {
		clock := day.Add(time.Duration(round) * 20 * time.Minute) // crosses midnights
		stg, err := OpenStorage("/data", store.Options{FS: fsys, SegmentSize: int64(4096 + rng.IntN(16384))}, nil)
		if err != nil {
			t.Fatalf("round %d: recovery: %v", round, err)
		}
		// Every acknowledged request is in the index exactly once; the lines
		// are numbered 1..n; a line for a request that was not acknowledged
		// may survive only if the journal made it durable (then it stays).
		seen := map[string]int{}
		var last uint64
		var order error // the first line out of order
		_, st, err := index.Dir{FS: fsys, Path: datadir.Dir("/data").Index()}.Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
			seen[l.Instance]++
			if order == nil && l.Seq != last+1 {
				order = fmt.Errorf("line %d (%s) follows line %d", l.Seq, l.TS.Format(time.RFC3339), last)
			}
			last = l.Seq
		})
		if err == nil {
			err = order
		}
		if err != nil || st.Malformed != 0 {
			files, _ := index.Files(fsys, "/data/index")
			for _, f := range files {
				var first, lastSeq uint64
				n := 0
				index.Dir{FS: fsys, Path: "/data/index"}.Read(t.Context(), index.Checkpoint{File: f}, time.Time{}, time.Time{}, func(l *index.Line) {
					if n == 0 {
						first = l.Seq
					}
					lastSeq = l.Seq
					n++
				})
				t.Logf("  %s: first %d last %d (n=%d, includes later files)", f, first, lastSeq, n)
			}
			t.Fatalf("round %d: read: %v, %d malformed lines", round, err, st.Malformed)
		}
		for id := range acked {
			if seen[id] != 1 {
				t.Fatalf("round %d: acknowledged request %s has %d index lines", round, id, seen[id])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: request %s has %d index lines", round, id, n)
			}
		}
		for k, n := range ackedLen {
			host, strm, _ := cutKey(k)
			info, ok, _ := stg.Store.Stat(t.Context(), store.Key{Host: host, Stream: strm})
			if !ok || info.Length < n {
				t.Fatalf("round %d: stream %s holds %d bytes, %d were acknowledged", round, k, info.Length, n)
			}
			ackedLen[k] = info.Length
		}

		killOnly := rng.IntN(3) == 0
		crashAt := int64(1 + rng.IntN(40))
		var ops atomic.Int64
		var once sync.Once
		crash := func() {
			once.Do(func() {
				if killOnly {
					fsys.Kill()
				} else {
					fsys.Crash(crashfs.RandomMode(rng))
				}
			})
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			key := store.Key{Host: fmt.Sprintf("h%d", w), Stream: "s"}
			mu.Lock()
			off := ackedLen[key.String()]
			mu.Unlock()
			wrng := rand.New(rand.NewPCG(seed, uint64(round*4+w)))
			wg.Go(func() {
				ctx := context.Background()
				for ops.Add(1) <= crashAt {
					id := fmt.Sprintf("req-%d", reqs.Add(1))
					line := index.Line{TS: clock.Add(time.Duration(ops.Load()) * time.Second), Host: key.Host, Instance: id, Method: "PUT", Endpoint: "logs"}
					var durable store.Durable
					if w%2 == 0 || wrng.IntN(2) == 0 { // some requests store bytes, some are refusals
						b, err := stg.Store.Begin(t.Context(), key, off, store.Gen{}, []byte(fmt.Sprintf("%s;", id)))
						if err != nil {
							return
						}
						off, durable, line.Status = b.Length, b.Durable, 201
					} else {
						line.Status, line.Reason = 401, "bad-token"
					}
					d, err := stg.Index.Begin(line)
					if err != nil || d(ctx) != nil || (durable != nil && durable(ctx) != nil) {
						return
					}
					mu.Lock()
					acked[id] = true
					if durable != nil {
						ackedLen[key.String()] = max(ackedLen[key.String()], off)
					}
					mu.Unlock()
				}
				crash()
			})
		}
		wg.Wait()
		crash()
		stg.Close() // fails on the dead handles; like the process, it is gone
		if round%10 == 9 {
			// Retention runs now and then: it syncs the index before dropping
			// segments, so no journal entry the files need is lost.
			stg2, err := OpenStorage("/data", store.Options{FS: fsys, SegmentSize: 4096, MaxBytes: 8192}, nil)
			if err != nil {
				t.Fatalf("round %d: reopen for retention: %v", round, err)
			}
			if err := seqCheck(fsys); err != nil {
				t.Fatalf("round %d: after reopen for retention: %v", round, err)
			}
			if _, err := stg2.Store.Retain(); err != nil {
				t.Fatalf("round %d: retention: %v", round, err)
			}
			if err := seqCheck(fsys); err != nil {
				t.Fatalf("round %d: after retention: %v", round, err)
			}
			fsys.Crash(crashfs.RandomMode(rng))
			if err := seqCheck(fsys); err != nil {
				t.Fatalf("round %d: after retention and crash: %v", round, err)
			}
			stg2.Close()
		}
	}
}

func cutKey(k string) (string, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

func seqCheck(fsys *crashfs.FS) error {
	var last uint64
	var order error // the first line out of order
	_, _, err := index.Dir{FS: fsys, Path: "/data/index"}.Read(context.Background(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		if order == nil && l.Seq != last+1 {
			order = fmt.Errorf("line %d follows line %d", l.Seq, last)
		}
		last = l.Seq
	})
	if err != nil {
		return err
	}
	return order
}

// TestStorageRecoversGarbledIndexLine: a line is acknowledged once its
// journal entry is synced, while the day file is written through the page
// cache, so a power loss can leave a line there garbled yet whole JSON (a
// torn sector of random bytes, stale blocks). Recovery must put back the
// journal's copy: every acknowledged request keeps exactly its own line.
// (TestStoragePowerLoss meets this rarely: crashfs's GarbageTail.)
func TestStorageRecoversGarbledIndexLine(t *testing.T) {
	for _, c := range []struct {
		name, from, to string
		syncAfter      int // lines written before the index's sync mark
	}{
		{"key", `"instance":"req-3"`, `"inXtance":"req-3"`, 0},
		{"value", `"instance":"req-3"`, `"instance":"req-X"`, 0},
		{"seq", `"seq":4}`, `"seq":9}`, 0},
		{"first line's seq", `"seq":1}`, `"seq":9}`, 0},
		{"time", `"ts":"2026-11-27T10:00:03.000Z"`, `"ts":"2026-11-27T10:00:0X.000Z"`, 0},
		{"value after the sync mark", `"instance":"req-3"`, `"instance":"req-X"`, 3},
		{"seq right after the sync mark", `"seq":4}`, `"seq":9}`, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
			stg, err := OpenStorage("/data", store.Options{FS: fsys}, nil)
			if err != nil {
				t.Fatal(err)
			}
			day := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			for i := range 6 {
				l := index.Line{TS: day.Add(time.Duration(i) * time.Second), Host: "h0", Instance: fmt.Sprintf("req-%d", i), Method: "PUT", Endpoint: "logs", Status: 201}
				if err := stg.Index.Write(context.Background(), l); err != nil {
					t.Fatal(err)
				}
				if i+1 == c.syncAfter {
					if _, err := stg.Index.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			// What the disk holds after the power loss: the unsynced line
			// req-3 (seq 4) garbled, still valid JSON.
			name := filepath.Join(datadir.Dir("/data").Index(), index.FileName(day))
			b, err := vfs.ReadFile(fsys, name)
			if err != nil || bytes.Count(b, []byte(c.from)) != 1 {
				t.Fatalf("index file %q (%v) has no single %s", b, err, c.from)
			}
			f, err := fsys.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte(c.to), int64(bytes.Index(b, []byte(c.from)))); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			fsys.Crash(crashfs.DropUnsynced)
			stg.Close()

			stg, err = OpenStorage("/data", store.Options{FS: fsys}, nil)
			if err != nil {
				t.Fatalf("recovery: %v", err)
			}
			defer stg.Close()
			seen := map[string]int{}
			var last uint64
			var order error // the first line out of order
			_, st, err := index.Dir{FS: fsys, Path: datadir.Dir("/data").Index()}.Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
				if l.Seq != last+1 && order == nil {
					order = fmt.Errorf("line %d follows line %d", l.Seq, last)
				}
				last = l.Seq
				seen[l.Instance]++
			})
			if err != nil || order != nil || st.Malformed != 0 {
				t.Fatalf("read: %v, %v, %d malformed lines", err, order, st.Malformed)
			}
			for i := range 6 {
				if id := fmt.Sprintf("req-%d", i); seen[id] != 1 {
					t.Errorf("acknowledged request %s has %d index lines (lines: %v)", id, seen[id], seen)
				}
			}
		})
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Info (start, length, generation, its start, updated) and the daily quota
// must be the same after a clean restart, a restart after retention, and
// after indexing.
func TestInfoAndQuotaAcrossRestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	now := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	opt := Options{SegmentSize: 4096, HostBytesPerDay: 60000, Now: func() time.Time { return now }}
	s := newTestStore(t, opt)
	keys := []Key{{"h1", "a"}, {"h1", "b"}, {"h2", "a"}}
	lens := map[Key]int64{}
	ctx := context.Background()
	for i := range 600 {
		k := keys[rng.IntN(len(keys))]
		now = now.Add(10 * time.Second) // crosses midnight
		g := Gen{ID: fmt.Sprint("g", i/37), Start: int64(i)}
		if rng.IntN(4) == 0 {
			g = Gen{}
		}
		data := make([]byte, 1+rng.IntN(200))
		_, n, err := s.Append(ctx, k, lens[k], g, data)
		if errors.Is(err, ErrQuota) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		lens[k] = n
	}
	check := func(what string, s *Store, want map[Key]Info) {
		t.Helper()
		for _, k := range keys {
			got, _, _ := s.Stat(t.Context(), k)
			if got != want[k] {
				t.Errorf("%s: %s: %+v, want %+v", what, k, got, want[k])
			}
		}
	}
	snap := func(s *Store) map[Key]Info {
		m := map[Key]Info{}
		for _, k := range keys {
			m[k], _, _ = s.Stat(t.Context(), k)
		}
		return m
	}
	quota := func(s *Store) map[string]int64 {
		m := map[string]int64{}
		for h, hu := range s.hosts {
			m[h] = hu.today
		}
		return m
	}
	want, wq := snap(s), quota(s)
	must(t, s.indexSealed())
	s = reopen(t, s)
	check("reopen", s, want)
	if q := quota(s); fmt.Sprint(q) != fmt.Sprint(wq) {
		t.Errorf("today's bytes after restart %v, want %v", q, wq)
	}
	s.opt.MaxBytes = 20000
	if _, err := s.Retain(); err != nil {
		t.Fatal(err)
	}
	want = snap(s)
	s = reopen(t, s)
	check("reopen after retention", s, want)
	s = reopen(t, s)
	check("second reopen after retention", s, want)
}

// Appends, reads, offsets by time, retention, indexing and forced rebuilds
// all at once, for the race detector.
func TestRebuildsDuringRetentionAndAppends(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Millisecond); return now }
	s := newTestStore(t, Options{SegmentSize: 2048, MaxBytes: 64 << 10, Now: clock})
	keys := []Key{{"h1", "a"}, {"h2", "a"}, {"h3", "b"}}
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			var n int64
			for i := 0; i < 3000; i++ {
				_, l, err := s.Append(ctx, k, n, Gen{ID: fmt.Sprint(i / 100)}, []byte(fmt.Sprintf("%s %06d\n", k, i)))
				if err != nil {
					t.Error(err)
					return
				}
				n = l
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[rng.IntN(len(keys))]
				info, _, _ := s.Stat(t.Context(), k)
				if info.Length > info.Start {
					off := info.Start + rng.Int64N(info.Length-info.Start)
					b, inf, err := s.Read(t.Context(), k, off, 500)
					if err != nil && !strings.Contains(err.Error(), "rebuilt") && !strings.Contains(err.Error(), "closed") {
						t.Errorf("read: %v", err)
					}
					_ = b
					_ = inf
				}
				s.OffsetAt(t.Context(), k, clock().Add(-time.Duration(rng.IntN(5000))*time.Millisecond))
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.Retain()
			s.mu.RLock()
			var seg *segment
			if len(s.segs) > 3 {
				seg = s.segs[len(s.segs)/2]
			}
			s.mu.RUnlock()
			if seg != nil {
				s.damaged(seg, errors.New("test"))
			}
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
}

// Rot in a sealed segment of a folder without index files (the old
// code's), which the first start reads whole. A rotted data byte fails its
// record's CRC, whose header still holds: the record is kept. A rotted
// header hides the records after it in that segment: the stream keeps its
// length and its later bytes, and a read of the hole fails rather than
// return other bytes. Either way the sealed segment is not cut, and no
// offset is reused, at the first start or once the segment is indexed.
func TestRotInASealedSegmentKeepsLengths(t *testing.T) {
	for _, c := range []struct {
		name string
		at   int // byte of segment 2 that rots
		hole bool
	}{
		{"data byte", 2018, false},
		{"record header", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
			s := newTestStore(t, Options{SegmentSize: 4096, Now: func() time.Time { return now }})
			k := Key{"h1", "a"}
			var want []byte
			for i := range 200 {
				line := []byte(fmt.Sprintf("line %04d .................................\n", i))
				_, _, err := s.Append(context.Background(), k, int64(len(want)), Gen{ID: "g"}, line)
				must(t, err)
				want = append(want, line...)
			}
			dir := s.opt.Dir
			s.Close()
			for seq := uint64(1); seq < 20; seq++ {
				os.Remove(filepath.Join(dir, idxName(seq)))
			}
			flipByte(t, filepath.Join(dir, segName(2)), c.at)
			s = reopen(t, s)
			for _, when := range []string{"first start", "restart once indexed"} {
				info, _, _ := s.Stat(t.Context(), k)
				if info.Length != int64(len(want)) {
					t.Fatalf("%s: length %d; want %d kept (offsets from %d on would be reused)", when, info.Length, len(want), info.Length)
				}
				tail := int64(len(want)) - 500
				if got, _, err := s.Read(t.Context(), k, tail, 500); err != nil || string(got) != string(want[tail:]) {
					t.Fatalf("%s: read of the last bytes: %v", when, err)
				}
				got, _, err := s.Read(t.Context(), k, 0, len(want))
				if c.hole && err == nil {
					t.Fatalf("%s: a read across the hole returned %d bytes and no error", when, len(got))
				}
				if !c.hole && (err != nil || len(got) != len(want)) {
					t.Fatalf("%s: read %d bytes, %v; want all %d", when, len(got), err, len(want))
				}
				s = reopen(t, s)
			}
		})
	}
}

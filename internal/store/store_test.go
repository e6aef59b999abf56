package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cis490/cis490/internal/wire"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/testseed"
)

// newTestStore opens a store in a temp folder with a running commit group.
func newTestStore(t *testing.T, opt Options) *Store {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	opt.Sync = g
	s, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return s
}

func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	opt := s.opt
	s.Close()
	opt.Sync = nil
	return newTestStore(t, opt)
}

func TestAppendSemantics(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	k := Key{"lab-1", "syslog"}
	g := Gen{ID: "g1", Start: 0}
	steps := []struct {
		name    string
		off     int64
		data    string
		want    Outcome
		wantLen int64
		reason  string
	}{
		{"first append", 0, "hello ", Appended, 6, ""},
		{"append", 6, "world\n", Appended, 12, ""},
		{"exact retry", 6, "world\n", Duplicate, 12, ""},
		{"retry prefix", 0, "hel", Duplicate, 12, ""},
		{"partial overlap appends tail", 6, "world\nagain\n", Appended, 18, ""},
		{"gap", 20, "x", 0, 18, "gap"},
		{"differing bytes at stored offset", 0, "HELLO", 0, 18, "mismatch"},
		{"overlap that differs in the tail part", 12, "agaiN\nmore", 0, 18, "mismatch"},
		{"negative offset", -1, "x", 0, 0, "gap"},
		{"empty body at length", 18, "", Duplicate, 18, ""},
	}
	for _, st := range steps {
		out, n, err := s.Append(ctx, k, st.off, g, []byte(st.data))
		if st.reason != "" {
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.Reason != st.reason || ce.Length != st.wantLen {
				t.Fatalf("%s: err = %v, want conflict %s with length %d", st.name, err, st.reason, st.wantLen)
			}
			continue
		}
		if err != nil || out != st.want || n != st.wantLen {
			t.Fatalf("%s: = %v, %d, %v; want %v, %d", st.name, out, n, err, st.want, st.wantLen)
		}
	}
	want := "hello world\nagain\n"
	check := func(s *Store) {
		t.Helper()
		got, info, err := s.Read(t.Context(), k, 0, 1<<20)
		if err != nil || string(got) != want || info.Length != int64(len(want)) || info.Gen != "g1" {
			t.Fatalf("read = %q, %+v, %v; want %q", got, info, err, want)
		}
	}
	check(s)
	s = reopen(t, s)
	check(s)
	if _, _, err := s.Append(ctx, k, 0, g, []byte("HELLO")); err == nil {
		t.Fatal("mismatch accepted after reopen")
	}
}

func TestGenerationKept(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	k := Key{"lab-1", "app.log"}
	mustAppend(t, s, k, 0, Gen{"a", 0}, "one\n")
	mustAppend(t, s, k, 4, Gen{"b", 4}, "two\n")
	if _, _, err := s.Append(ctx, k, 8, Gen{}, []byte("three\n")); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		info, ok, _ := s.Stat(t.Context(), k)
		if !ok || info.Gen != "b" || info.GenStart != 4 || info.Length != 14 {
			t.Fatalf("stat = %+v, %v; want generation b at 4, length 14", info, ok)
		}
	}
	check(s)
	check(reopen(t, s))
}

func mustAppend(t *testing.T, s *Store, k Key, off int64, g Gen, data string) {
	t.Helper()
	if _, _, err := s.Append(context.Background(), k, off, g, []byte(data)); err != nil {
		t.Fatalf("append %s at %d: %v", k, off, err)
	}
}

func TestRetentionMovesStartNeverReusesOffsets(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := newTestStore(t, Options{SegmentSize: 1024, MaxAge: 48 * time.Hour, Now: clock})
	a, b := Key{"lab-1", "old"}, Key{"lab-2", "busy"}
	chunk := bytes.Repeat([]byte("x"), 300)
	mustAppend(t, s, a, 0, Gen{}, string(chunk))
	var off int64
	for i := 0; i < 4; i++ { // fills the first segments on day one
		mustAppend(t, s, b, off, Gen{}, string(chunk))
		off += 300
	}
	now = now.Add(72 * time.Hour)
	for i := 0; i < 4; i++ {
		mustAppend(t, s, b, off, Gen{}, string(chunk))
		off += 300
	}
	freed, err := s.Retain()
	if err != nil || freed == 0 {
		t.Fatalf("retain freed %d, %v; want old segments dropped", freed, err)
	}
	check := func(s *Store) {
		t.Helper()
		ia, _, _ := s.Stat(t.Context(), a)
		if ia.Start != 300 || ia.Length != 300 {
			t.Fatalf("stream a = %+v; want start=length=300 (all dropped, offset kept)", ia)
		}
		ib, _, _ := s.Stat(t.Context(), b)
		if ib.Start == 0 || ib.Length != off {
			t.Fatalf("stream b = %+v; want start moved forward, length %d", ib, off)
		}
		// A write below the start is a 409 with the length, never a rewrite.
		_, n, err := s.Append(ctx, a, 0, Gen{}, chunk)
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Reason != "before-start" || n != 300 {
			t.Fatalf("write below start = %d, %v; want before-start 409 with length 300", n, err)
		}
		got, info, err := s.Read(t.Context(), b, 0, 1<<20)
		if err != nil || info.Start != ib.Start || int64(len(got)) != ib.Length-ib.Start {
			t.Fatalf("read from 0 = %d bytes, %+v, %v; want the retained bytes", len(got), info, err)
		}
	}
	check(s)
	check(reopen(t, s))
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	now := time.Now() // held: the daily quota must not reset at a midnight mid-test
	s := newTestStore(t, Options{HostBytesTotal: 100, HostBytesPerDay: 60 + AppendCost, Now: func() time.Time { return now }})
	k := Key{"greedy", "s"}
	mustAppend(t, s, k, 0, Gen{}, string(make([]byte, 50)))
	_, _, err := s.Append(ctx, k, 50, Gen{}, make([]byte, 20))
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("over daily quota: err = %v, want ErrQuota", err)
	}
	// Another host is unaffected.
	mustAppend(t, s, Key{"other", "s"}, 0, Gen{}, string(make([]byte, 50)))
	// A retry of stored bytes is not charged again.
	if out, _, err := s.Append(ctx, k, 0, Gen{}, make([]byte, 50)); err != nil || out != Duplicate {
		t.Fatalf("retry = %v, %v; want duplicate", out, err)
	}
}

// TestQuotaCountsAppends: a flood of tiny appends is bounded by the daily
// quota: each is charged what it costs on disk beyond its bytes.
func TestQuotaCountsAppends(t *testing.T) {
	now := time.Now()
	s := newTestStore(t, Options{HostBytesPerDay: 10 * AppendCost, Now: func() time.Time { return now }})
	k := Key{"tiny", "s"}
	n := 0
	for ; n < 100; n++ {
		if _, _, err := s.Append(context.Background(), k, int64(n), Gen{}, []byte("x")); errors.Is(err, ErrQuota) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n != 9 {
		t.Fatalf("%d one-byte appends fit a daily quota of %d; want 9", n, 10*AppendCost)
	}
}

// TestStreamCap: a host may make HostStreams streams; the next is refused
// (and left behind as nothing), while its streams take appends.
func TestStreamCap(t *testing.T) {
	s := newTestStore(t, Options{HostStreams: 3})
	for _, name := range []string{"a", "b", "c"} {
		mustAppend(t, s, Key{"h", name}, 0, Gen{}, "x")
	}
	var qe *QuotaError
	if _, err := s.Begin(t.Context(), Key{"h", "d"}, 0, Gen{}, []byte("x")); !errors.As(err, &qe) || qe.Reason != wire.ReasonStreams {
		t.Fatalf("a fourth stream = %v; want a QuotaError for streams", err)
	}
	mustAppend(t, s, Key{"h", "a"}, 1, Gen{}, "y")
	mustAppend(t, s, Key{"other", "d"}, 0, Gen{}, "x")
	if got, _ := s.List(t.Context(), "h"); len(got) != 3 {
		t.Fatalf("host h has %d streams; want 3", len(got))
	}
}

func TestFull(t *testing.T) {
	s := newTestStore(t, Options{MinFree: 1000, FreeSpace: func() (int64, error) { return 1500, nil }})
	k := Key{"h", "s"}
	mustAppend(t, s, k, 0, Gen{}, string(make([]byte, 400)))
	_, _, err := s.Append(context.Background(), k, 400, Gen{}, make([]byte, 400))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
}

func TestManyStreamsConcurrent(t *testing.T) {
	s := newTestStore(t, Options{SegmentSize: 64 << 10})
	ctx := context.Background()
	errc := make(chan error, 16)
	for h := 0; h < 16; h++ {
		go func() {
			k := Key{fmt.Sprintf("h%d", h), "s"}
			var off int64
			for i := 0; i < 100; i++ {
				d := []byte(fmt.Sprintf("%d-%d\n", h, i))
				if _, _, err := s.Append(ctx, k, off, Gen{}, d); err != nil {
					errc <- err
					return
				}
				off += int64(len(d))
			}
			errc <- nil
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s)
	for h := 0; h < 16; h++ {
		got, _, _ := s.Read(t.Context(), Key{fmt.Sprintf("h%d", h), "s"}, 0, 1<<20)
		var want bytes.Buffer
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&want, "%d-%d\n", h, i)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("host %d: stream differs after reopen", h)
		}
	}
}

// TestRetentionWhileShipping runs retention in a loop while hosts append and
// an admin reads: starts only move forward, lengths only grow, and every byte
// read is the byte that was sent at that offset.
func TestRetentionWhileShipping(t *testing.T) {
	seed := testseed.Get(t)
	s := newTestStore(t, Options{SegmentSize: 4096, MaxBytes: 16 << 10})
	ctx := context.Background()
	stop := make(chan struct{})
	var appenders, wg sync.WaitGroup
	for k := 0; k < 4; k++ {
		appenders.Go(func() {
			key := Key{fmt.Sprintf("h%d", k), "s"}
			var off int64
			for i := 0; i < 300; i++ {
				n := 1 + int(content(seed, k, off))*4
				_, l, err := s.Append(ctx, key, off, Gen{}, fill(seed, k, off, n))
				if err != nil {
					t.Error(err)
					return
				}
				off = l
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
			if _, err := s.Retain(); err != nil {
				t.Error(err)
				return
			}
			for k := 0; k < 4; k++ {
				b, info, err := s.Read(t.Context(), Key{fmt.Sprintf("h%d", k), "s"}, 0, 1<<20)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				for i, c := range b {
					if c != content(seed, k, info.Start+int64(i)) {
						t.Errorf("stream %d offset %d holds the wrong byte", k, info.Start+int64(i))
						return
					}
				}
			}
		}
	})
	// Retention runs for as long as the hosts ship (under -race on a
	// loaded machine that can be longer than any fixed time), then once
	// more: the bound holds as of a retention run, not between runs.
	appenders.Wait()
	close(stop)
	wg.Wait()
	if _, err := s.Retain(); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for k := 0; k < 4; k++ {
		info, _, _ := s.Stat(t.Context(), Key{fmt.Sprintf("h%d", k), "s"})
		if info.Start == 0 {
			t.Errorf("stream %d start never moved (retention did nothing)", k)
		}
		total += info.Length - info.Start
	}
	if total > 16<<10+4096 {
		t.Errorf("store holds %d bytes, retention.max_bytes is %d", total, 16<<10)
	}
}

// TestOffsetAt: the time → offset map `cis490 logs --since` reads: the
// first byte stored at or after a time, the same after a restart (append
// times are in the records), and the length when nothing came since.
func TestOffsetAt(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	s := newTestStore(t, Options{Now: func() time.Time { return now }})
	k := Key{"lab-1", "syslog"}
	var off int64
	for i := range 4 { // 08:00, 09:00, 10:00, 11:00
		line := fmt.Sprintf("line at %02d:00\n", 8+i)
		mustAppend(t, s, k, off, Gen{}, line)
		off += int64(len(line))
		now = now.Add(time.Hour)
	}
	per := int64(len("line at 08:00\n"))
	check := func(s *Store) {
		t.Helper()
		for _, c := range []struct {
			at   time.Time
			want int64
		}{
			{time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC), 0},
			{time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), per},
			{time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC), 2 * per},
			{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), 4 * per},
		} {
			if got, err := s.OffsetAt(t.Context(), k, c.at); err != nil || got != c.want {
				t.Errorf("OffsetAt(%s) = %d, %v; want %d", c.at.Format("15:04"), got, err, c.want)
			}
		}
		if _, err := s.OffsetAt(t.Context(), Key{"lab-1", "nope"}, now); !errors.Is(err, ErrNotFound) {
			t.Errorf("an unknown stream: %v", err)
		}
	}
	check(s)
	check(reopen(t, s))
}

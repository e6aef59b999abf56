package search

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/store"
)

// memSource is a fleet held in memory that records which streams were
// read: enough to watch how far a search's workers run ahead. The
// backends themselves are searched in internal/storetest.
type memSource struct {
	streams map[store.Key][]byte
	mu      sync.Mutex
	read    map[store.Key]bool
	bytes   int64               // read so far
	starts  map[store.Key]int64 // where retention left a stream
}

func (s *memSource) HostNames(context.Context) ([]string, error) {
	var hosts []string
	for k := range s.streams {
		if !slices.Contains(hosts, k.Host) {
			hosts = append(hosts, k.Host)
		}
	}
	return hosts, nil
}

func (s *memSource) List(_ context.Context, host string) ([]store.Info, error) {
	var out []store.Info
	for k, b := range s.streams {
		if k.Host == host {
			out = append(out, store.Info{Stream: k.Stream, Length: int64(len(b))})
		}
	}
	slices.SortFunc(out, func(a, b store.Info) int { return strings.Compare(a.Stream, b.Stream) })
	return out, nil
}

func (s *memSource) OffsetAt(context.Context, store.Key, time.Time) (int64, error) { return 0, nil }

func (s *memSource) Read(_ context.Context, k store.Key, off int64, limit int) ([]byte, store.Info, error) {
	s.mu.Lock()
	b := s.streams[k]
	start := s.starts[k]
	off = max(off, start) // as the stores do: an offset below the start moves up
	data := slices.Clone(b[min(off, int64(len(b))):min(int64(len(b)), off+int64(limit))])
	s.read[k] = true
	s.bytes += int64(len(data))
	s.mu.Unlock()
	return data, store.Info{Stream: k.Stream, Start: start, Length: int64(len(b))}, nil
}

func (s *memSource) TimeAt(_ context.Context, k store.Key, off int64) (time.Time, int64, error) {
	return time.Unix(1e9, 0), int64(len(s.streams[k])), nil
}

func (s *memSource) streamsRead() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.read), s.bytes
}

// newMemFleet: hosts × 2 streams of lines, every one a hit for "error".
func newMemFleet(hosts, lines int) *memSource {
	src := &memSource{streams: map[store.Key][]byte{}, read: map[store.Key]bool{}, starts: map[store.Key]int64{}}
	for h := range hosts {
		for _, stream := range []string{"app.log", "syslog"} {
			k := store.Key{Host: fmt.Sprintf("lab-%02d", h), Stream: stream}
			var b strings.Builder
			for i := range lines {
				fmt.Fprintf(&b, "%s %s line %d: error\n", k.Host, stream, i)
			}
			src.streams[k] = []byte(b.String())
		}
	}
	return src
}

// TestRunWorkersKeepOrder: however many streams are scanned at once, the
// hits come in host, stream and offset order, and pages cut by a limit or
// by the caller's deadline continue exactly where they stopped.
func TestRunWorkersKeepOrder(t *testing.T) {
	src := newMemFleet(9, 700)
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, req Request, emit func(Result) error) ([]string, Summary, error) {
		var got []string
		req.Matcher = m
		sum, err := Run(ctx, src, req, func(r Result) error {
			got = append(got, fmt.Sprintf("%s/%s@%d %s", r.Host, r.Stream, r.Offset, r.Line))
			if emit != nil {
				return emit(r)
			}
			return nil
		})
		return got, sum, err
	}
	want, sum, err := run(t.Context(), Request{Workers: 1}, nil)
	if err != nil || len(want) != 9*2*700 || sum.Streams != 18 {
		t.Fatalf("one worker: %d hits in %d streams (%v); want %d in 18", len(want), sum.Streams, err, 9*2*700)
	}
	if !slices.IsSortedFunc(want, func(a, b string) int {
		// Offsets are not zero-padded: compare the line text, which
		// numbers them in order within a stream.
		return strings.Compare(a[:strings.IndexByte(a, '@')], b[:strings.IndexByte(b, '@')])
	}) {
		t.Fatal("one worker: hits not in host and stream order")
	}
	for _, w := range []int{2, 3, 4} {
		got, sum, err := run(t.Context(), Request{Workers: w}, nil)
		if err != nil || !slices.Equal(got, want) || sum.Hits != int64(len(want)) {
			t.Errorf("%d workers: %d hits (%v), summary %+v; want the %d of one worker, in its order", w, len(got), err, sum, len(want))
		}
		if _, sum, _ := run(t.Context(), Request{Workers: w, Count: true}, nil); sum.Hits != int64(len(want)) || sum.Streams != 18 {
			t.Errorf("%d workers, counting: %+v; want %d hits in 18 streams", w, sum, len(want))
		}

		// Pages of 1000 by limit.
		var paged []string
		for cur := ""; ; {
			got, sum, err := run(t.Context(), Request{Workers: w, Limit: 1000, Cursor: cur}, nil)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, got...)
			if !sum.Limited {
				break
			}
			cur = sum.Cursor
		}
		if !slices.Equal(paged, want) {
			t.Errorf("%d workers, pages of 1000: %d hits; want the %d of one search, in order", w, len(paged), len(want))
		}

		// Pages cut by the caller: it cancels after 1500 hits each time.
		paged = paged[:0]
		for cur, pages := "", 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("%d workers: cancelled pages do not end", w)
			}
			ctx, cancel := context.WithCancel(t.Context())
			n := 0
			got, sum, err := run(ctx, Request{Workers: w, Cursor: cur}, func(Result) error {
				if n++; n == 1500 {
					cancel()
				}
				return nil
			})
			cancel()
			paged = append(paged, got...)
			if err == nil {
				break
			}
			if !sum.Limited || sum.Cursor == "" {
				t.Fatalf("%d workers, cancelled: %v with summary %+v; want a cursor to continue from", w, err, sum)
			}
			cur = sum.Cursor
		}
		if !slices.Equal(paged, want) {
			t.Errorf("%d workers, pages cut by cancelling: %d hits; want the %d of one search, each once, in order", w, len(paged), len(want))
		}
	}
}

// TestRunWorkersBounded: while the caller does not take a hit, each
// worker stops within a block: a search buffers a bounded number of hits,
// not a stream's, a host's or the fleet's.
func TestRunWorkersBounded(t *testing.T) {
	for _, tc := range []struct {
		name         string
		hosts, lines int
	}{
		{"short streams", 20, 5000},
		{"long streams", 2, 125000}, // 4 MiB each
	} {
		t.Run(tc.name, func(t *testing.T) {
			const workers = 3
			src := newMemFleet(tc.hosts, tc.lines)
			m, err := Compile(Query{Pattern: "error"})
			if err != nil {
				t.Fatal(err)
			}
			var streams int
			var bytes int64
			first := true
			sum, err := Run(t.Context(), src, Request{Matcher: m, Workers: workers}, func(Result) error {
				if first {
					first = false
					time.Sleep(300 * time.Millisecond) // a slow client
					streams, bytes = src.streamsRead()
				}
				return nil
			})
			if want := int64(tc.hosts * 2 * tc.lines); err != nil || sum.Hits != want {
				t.Fatalf("search: %+v, %v; want %d hits", sum, err, want)
			}
			// Each worker holds one block while its hits wait; the
			// caller's stream is one of them.
			if streams > workers+1 || bytes > workers*BlockSize {
				t.Fatalf("%d streams and %d bytes read while the caller took no hit; want at most %d streams and %d bytes (a block per worker)",
					streams, bytes, workers+1, workers*BlockSize)
			}
		})
	}
}

// TestRunSummaryAtLimit: a search that the limit or a failing emit ends
// counts the stream it ended in, and the bytes it scanned there.
func TestRunSummaryAtLimit(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	src := newMemFleet(1, 100)
	errGone := errors.New("the client went")
	for _, w := range []int{1, 2, 4} {
		for _, count := range []bool{false, true} {
			sum, err := Run(t.Context(), src, Request{Matcher: m, Workers: w, Limit: 1, Count: count}, func(Result) error { return nil })
			if err != nil || sum.Hits != 1 || !sum.Limited || sum.Streams != 1 || sum.BytesScanned == 0 || sum.BlocksScanned != 1 {
				t.Errorf("%d workers, count %v, limit 1: %+v, %v; want 1 hit in 1 stream, its block scanned", w, count, sum, err)
			}
		}
		sum, err := Run(t.Context(), src, Request{Matcher: m, Workers: w}, func(Result) error { return errGone })
		if !errors.Is(err, errGone) || sum.Streams != 1 || sum.BytesScanned == 0 {
			t.Errorf("%d workers, emit failing: %+v, %v; want 1 stream, its block scanned", w, sum, err)
		}
	}
}

// TestRunPacedWorkersWait: a paced worker rests after the time it scanned,
// not after the time it waited for the caller to take its hits (streams
// ahead of the caller's wait for it): a search with hits to send takes a
// few times what it takes unpaced, not ever longer rests.
func TestRunPacedWorkersWait(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	src := newMemFleet(4, 3000)
	for _, w := range []int{2, 4} {
		run := func(share float64) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			began := time.Now()
			sum, err := Run(ctx, src, Request{Matcher: m, Workers: w, Share: share, Busy: func() bool { return true }}, func(Result) error { return nil })
			if err == nil && sum.Hits != 4*2*3000 {
				err = fmt.Errorf("%d hits", sum.Hits)
			}
			return time.Since(began), err
		}
		unpaced, err := run(1)
		if err != nil {
			t.Fatal(err)
		}
		// A share of 1/2 is twice the time; the bound leaves room for
		// a busy machine.
		if paced, err := run(0.5); err != nil || paced > 20*unpaced+500*time.Millisecond {
			t.Errorf("%d workers: paced to 1/2 a CPU, %v (%v); unpaced %v", w, paced, err, unpaced)
		}
	}
}

// TestRunRetentionMidSearch: when retention moves a stream's start past
// the place a search has reached, the search goes on from the new start,
// and every hit's offset is where its line is.
func TestRunRetentionMidSearch(t *testing.T) {
	src := newMemFleet(1, 100000) // two streams of about 3.4 MB
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	k := store.Key{Host: "lab-00", Stream: "app.log"}
	text := src.streams[k]
	moved := int64(2<<20 + 17) // mid-line, in the third block
	var got []Result
	sum, err := Run(t.Context(), src, Request{Matcher: m, Workers: 1}, func(r Result) error {
		if len(got) == 0 {
			src.mu.Lock()
			src.starts[k] = moved
			src.mu.Unlock()
		}
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var after int64
	for _, r := range got {
		if r.Stream != k.Stream {
			continue
		}
		if line := string(text[r.Offset : r.Offset+int64(len(r.Line))]); line != r.Line {
			t.Fatalf("a hit at %d reads %q there; want its line %q", r.Offset, line, r.Line)
		}
		if r.Offset >= moved {
			after++
		}
	}
	// The lines that begin after the new start, all of them matches: one
	// a newline after moved, but the first, the cut line's.
	wantAfter := int64(strings.Count(string(text[moved:]), "\n")) - 1
	if after != wantAfter {
		t.Errorf("%d hits after the new start; want the %d lines that begin there (summary %+v)", after, wantAfter, sum)
	}
}

// TestRunLeavesNothingRunning: when Run returns, early or not, its
// producer and workers have ended: a receiver's search slot is free only
// once its search holds nothing.
func TestRunLeavesNothingRunning(t *testing.T) {
	src := newMemFleet(8, 20000)
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []Request{{Limit: 1}, {Limit: 30000}, {Count: true}} {
		req.Matcher, req.Workers = m, 4
		if _, err := Run(t.Context(), src, req, func(Result) error { return nil }); err != nil {
			t.Fatal(err)
		}
		// Other tests' goroutines may come and go: look for Run's own.
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if strings.Contains(stacks, "search.runStream") || strings.Contains(stacks, "search.Run.func") {
			t.Errorf("%+v: a goroutine of the search still runs after Run returned:\n%s", req, stacks)
		}
	}
}

// collatedSource lists a host's streams in a database's collation order
// ("app.log" before "Syslog" before "z.log", as en_US.UTF-8 sorts them)
// rather than byte order, as PostgreSQL may.
type collatedSource struct{ *memSource }

func (s collatedSource) List(ctx context.Context, host string) ([]store.Info, error) {
	infos, err := s.memSource.List(ctx, host)
	slices.SortFunc(infos, func(a, b store.Info) int {
		return strings.Compare(strings.ToLower(a.Stream), strings.ToLower(b.Stream))
	})
	return infos, err
}

// TestRunStreamsInByteOrder: a store listing streams in another order
// than the cursor's (byte order) still gets each hit once over pages.
func TestRunStreamsInByteOrder(t *testing.T) {
	src := &memSource{streams: map[store.Key][]byte{}, read: map[store.Key]bool{}, starts: map[store.Key]int64{}}
	for _, stream := range []string{"app.log", "Syslog", "z.log"} {
		src.streams[store.Key{Host: "lab-01", Stream: stream}] = []byte(stream + ": error one\n" + stream + ": error two\n")
	}
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	all := pages(t, func() (context.Context, func()) { return t.Context(), func() {} }, collatedSource{src}, Request{Matcher: m, Limit: 1}, nil)
	want := []string{
		"lab-01/Syslog@0 Syslog: error one", "lab-01/Syslog@18 Syslog: error two",
		"lab-01/app.log@0 app.log: error one", "lab-01/app.log@19 app.log: error two",
		"lab-01/z.log@0 z.log: error one", "lab-01/z.log@17 z.log: error two",
	}
	if !slices.Equal(all, want) {
		t.Fatalf("pages of one hit found %q; want %q", all, want)
	}
}

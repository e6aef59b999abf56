package search

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/store"
)

var errStorage = errors.New("storage broke")

// faultSource is a memSource whose calls can fail or block.
type faultSource struct {
	*memSource
	mu       sync.Mutex
	timeAtN  int // TimeAt calls so far
	failTime func(n int, k store.Key, off int64) error
	failRead func(k store.Key, off int64) error
	offsetAt func(ctx context.Context, k store.Key) (int64, error)
	failList func(host string) error
	perHit   bool // TimeAt's time holds for one byte: one call a hit
}

func (s *faultSource) List(ctx context.Context, host string) ([]store.Info, error) {
	s.mu.Lock()
	var err error
	if s.failList != nil {
		err = s.failList(host)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.memSource.List(ctx, host)
}

func (s *faultSource) TimeAt(ctx context.Context, k store.Key, off int64) (time.Time, int64, error) {
	s.mu.Lock()
	s.timeAtN++
	var err error
	if s.failTime != nil {
		err = s.failTime(s.timeAtN, k, off)
	}
	s.mu.Unlock()
	if err != nil {
		return time.Time{}, 0, err
	}
	t, end, err := s.memSource.TimeAt(ctx, k, off)
	if s.perHit {
		end = off + 1
	}
	return t, end, err
}

func (s *faultSource) Read(ctx context.Context, k store.Key, off int64, limit int) ([]byte, store.Info, error) {
	s.mu.Lock()
	var err error
	if s.failRead != nil {
		err = s.failRead(k, off)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, store.Info{}, err
	}
	return s.memSource.Read(ctx, k, off, limit)
}

func (s *faultSource) OffsetAt(ctx context.Context, k store.Key, t time.Time) (int64, error) {
	if s.offsetAt != nil {
		return s.offsetAt(ctx, k)
	}
	return s.memSource.OffsetAt(ctx, k, t)
}

// setFails sets the calls that fail, while a search from before may
// still be in one.
func (s *faultSource) setFails(time func(n int, k store.Key, off int64) error, read func(k store.Key, off int64) error) {
	s.mu.Lock()
	s.failTime, s.failRead, s.timeAtN = time, read, 0
	s.mu.Unlock()
}

func fmtHit(r Result) string { return fmt.Sprintf("%s/%s@%d %s", r.Host, r.Stream, r.Offset, r.Line) }

// pages runs req from no cursor on until a search ends without one,
// collecting every hit: a search that fails must give a cursor.
func pages(t *testing.T, ctx func() (context.Context, func()), src Source, req Request, emit func(Result) error) []string {
	t.Helper()
	var all []string
	for cur, n := "", 0; ; n++ {
		if n > 20000 {
			t.Fatal("pages do not end")
		}
		c, cancel := ctx()
		req.Cursor = cur
		sum, err := Run(c, src, req, func(r Result) error {
			all = append(all, fmtHit(r))
			if emit != nil {
				return emit(r)
			}
			return nil
		})
		cancel()
		if err == nil && !sum.Limited {
			return all
		}
		if sum.Cursor == "" {
			t.Fatalf("page %d: %v, %+v: no cursor to continue from", n, err, sum)
		}
		cur = sum.Cursor
	}
}

// TestRunTimeAtFailsMidway: a storage error finding a hit's time ends the
// search with a cursor; continuing from it gives each hit once.
func TestRunTimeAtFailsMidway(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1, 2, 4} {
		for _, failAt := range []int{1, 2, 37, 700, 1401} {
			src := &faultSource{memSource: newMemFleet(2, 700), perHit: true}
			want := pages(t, func() (context.Context, func()) { return t.Context(), func() {} }, src, Request{Matcher: m, Workers: w}, nil)
			failed := false
			src.setFails(func(n int, _ store.Key, _ int64) error {
				if !failed && n == failAt {
					failed = true
					return errStorage
				}
				return nil
			}, nil)
			got := pages(t, func() (context.Context, func()) { return t.Context(), func() {} }, src, Request{Matcher: m, Workers: w}, nil)
			if !slices.Equal(got, want) {
				t.Errorf("%d workers, TimeAt failing at call %d: %d hits; want the %d of one search, each once, in order (first difference %s)",
					w, failAt, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

// TestRunTimeAtFailsOnCutLine: a cut line decided across a block's edge
// whose time cannot be found is not lost, nor are the hits after it.
func TestRunTimeAtFailsOnCutLine(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for b.Len() < BlockSize-100 {
		b.WriteString("filler line\n")
	}
	cutAt := int64(b.Len())
	long := "error " + strings.Repeat("x", MaxLine+100)
	b.WriteString(long + "\n")
	for i := range 50 {
		fmt.Fprintf(&b, "line %d error\n", i)
	}
	src := &faultSource{memSource: &memSource{streams: map[store.Key][]byte{{Host: "h", Stream: "s"}: []byte(b.String())}, read: map[store.Key]bool{}}, perHit: true}
	ctx := func() (context.Context, func()) { return t.Context(), func() {} }
	want := pages(t, ctx, src, Request{Matcher: m, Workers: 1}, nil)
	if len(want) != 51 || want[0] != fmt.Sprintf("h/s@%d %s", cutAt, long[:MaxLine]) {
		t.Fatalf("%d hits, first %.40q", len(want), want[0])
	}
	failed := false
	src.setFails(func(n int, _ store.Key, off int64) error {
		if !failed && off == cutAt {
			failed = true
			return errStorage
		}
		return nil
	}, nil)
	got := pages(t, ctx, src, Request{Matcher: m, Workers: 1}, nil)
	if !slices.Equal(got, want) {
		t.Errorf("TimeAt failing on the cut line: %d hits; want %d (first difference %.80s)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("#%d %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}

// TestRunResumeCancelledRace: a search from a cursor whose stream ends
// before its first byte (its OffsetAt sees the context end) while the
// producer lists on: run with -race.
func TestRunResumeCancelledRace(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	mem := newMemFleet(3, 10)
	for range 50 {
		ctx, cancel := context.WithCancel(t.Context())
		src := &faultSource{memSource: mem, offsetAt: func(ctx context.Context, k store.Key) (int64, error) {
			if k.Host == "lab-01" && k.Stream == "app.log" {
				cancel()
				return 0, ctx.Err()
			}
			return 0, nil
		}}
		cur := cursor{Host: "lab-01", Stream: "app.log", Offset: 5, LineStart: true}.encode()
		sum, err := Run(ctx, src, Request{Matcher: m, Workers: 2, Since: time.Unix(1, 0), Cursor: cur}, func(Result) error { return nil })
		cancel()
		if err == nil || sum.Cursor != cur {
			t.Fatalf("%+v, %v; want the cursor it started from", sum, err)
		}
	}
}

// TestRunSinceStartCursor: a search cut before it read a window's first
// block continues from a cursor that keeps the window's first line.
func TestRunSinceStartCursor(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	mem := newMemFleet(1, 50)
	k := store.Key{Host: "lab-00", Stream: "app.log"}
	b := mem.streams[k]
	// The window starts at the 10th line, a line start.
	lo := int64(0)
	for range 10 {
		lo += int64(strings.IndexByte(string(b[lo:]), '\n') + 1)
	}
	src := &faultSource{memSource: mem, offsetAt: func(context.Context, store.Key) (int64, error) { return lo, nil }}
	req := Request{Matcher: m, Workers: 1, Streams: "app.log", Since: time.Unix(1, 0)}
	want := pages(t, func() (context.Context, func()) { return t.Context(), func() {} }, src, req, nil)
	if len(want) != 40 {
		t.Fatalf("%d hits; want the window's 40", len(want))
	}
	failed := false
	src.setFails(nil, func(_ store.Key, off int64) error {
		if !failed {
			failed = true
			return errStorage
		}
		return nil
	})
	got := pages(t, func() (context.Context, func()) { return t.Context(), func() {} }, src, req, nil)
	if !slices.Equal(got, want) {
		t.Errorf("a read failing at the window's start: %d hits; want %d (first difference %s)", len(got), len(want), firstDiff(got, want))
	}
}

// TestRunAdversarial: many streams; pages cut by limits, counting with
// limits, cancelling at random hits, reads and time look-ups failing at
// random: every page continues exactly where the one before stopped.
func TestRunAdversarial(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	src := &faultSource{memSource: newMemFleet(6, 100), perHit: true}
	background := func() (context.Context, func()) { return t.Context(), func() {} }
	want := pages(t, background, src, Request{Matcher: m, Workers: 1}, nil)
	rng := newRand(3)
	for _, w := range []int{1, 2, 3, 4} {
		for _, limit := range []int{1, 7, 99, 100, 101, 201} {
			got := pages(t, background, src, Request{Matcher: m, Workers: w, Limit: limit}, nil)
			if !slices.Equal(got, want) {
				t.Errorf("%d workers, limit %d: %s", w, limit, firstDiff(got, want))
			}
			// Count with a limit: the sum of the pages' hits.
			var total int64
			for cur := ""; ; {
				sum, err := Run(t.Context(), src, Request{Matcher: m, Workers: w, Limit: limit, Count: true, Cursor: cur}, nil)
				if err != nil {
					t.Fatal(err)
				}
				total += sum.Hits
				if !sum.Limited {
					break
				}
				cur = sum.Cursor
			}
			if total != int64(len(want)) {
				t.Errorf("%d workers, counting by %d: %d; want %d", w, limit, total, len(want))
			}
		}
		// Cancelled at a random hit of each page.
		var cancel func()
		n, at := 0, 0
		got := pages(t, func() (context.Context, func()) {
			var ctx context.Context
			ctx, cancel = context.WithCancel(t.Context())
			n, at = 0, 1+rng.IntN(150)
			return ctx, cancel
		}, src, Request{Matcher: m, Workers: w}, func(Result) error {
			if n++; n == at {
				cancel()
			}
			return nil
		})
		if !slices.Equal(got, want) {
			t.Errorf("%d workers, cancelled at random hits: %s", w, firstDiff(got, want))
		}
		// Storage failing at random.
		src.setFails(func(int, store.Key, int64) error {
			if rng.IntN(200) == 0 {
				return errStorage
			}
			return nil
		}, func(store.Key, int64) error {
			if rng.IntN(4) == 0 {
				return errStorage
			}
			return nil
		})
		got = pages(t, background, src, Request{Matcher: m, Workers: w}, nil)
		src.setFails(nil, nil)
		if !slices.Equal(got, want) {
			t.Errorf("%d workers, storage failing at random: %s", w, firstDiff(got, want))
		}
	}
}

// TestCountingCountsAsExact: a counting scan finds as many lines as the
// exact one, for words, substrings and -i, lines near MaxLine, finds
// whose word edges fail, fed in any chunks.
func TestCountingCountsAsExact(t *testing.T) {
	rng := newRand(7)
	pieces := []string{"sshd", "xsshd", "sshdx", "SSHD", " ", "-", "\n", "a", "ssh", "d", "é"}
	for iter := range 300 {
		var b strings.Builder
		for b.Len() < 3*MaxLine {
			switch rng.IntN(20) {
			case 0:
				// A line near MaxLine, the needle near its end.
				n := MaxLine - 10 + rng.IntN(20)
				b.WriteString(strings.Repeat("y ", n/2))
				b.WriteString(pieces[rng.IntN(4)])
				b.WriteByte('\n')
			default:
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		}
		stream := []byte(b.String())
		for _, q := range []Query{{Pattern: "sshd"}, {Pattern: "SSHD", IgnoreCase: true}, {Pattern: "sshd", Mode: Substring}, {Pattern: "sshd x"}, {Pattern: "-sshd"}} {
			m, err := Compile(q)
			if err != nil {
				t.Fatal(err)
			}
			want := len(naive(m, stream))
			chunk := 1 + rng.IntN(3*MaxLine)
			for _, counting := range []bool{false, true} {
				n := 0
				s := NewScanner(m, func(Hit) error { n++; return nil })
				s.Counting = counting
				for off := 0; off < len(stream); off += chunk {
					if err := s.Feed(int64(off), stream[off:min(len(stream), off+chunk)]); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
				if n != want {
					t.Fatalf("iter %d, %+v, chunks of %d, counting %v: %d lines; want %d", iter, q, chunk, counting, n, want)
				}
			}
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// TestRunListOrPlaceFails: a host whose streams cannot be listed, or a
// stream whose window cannot be placed, ends the search with a cursor
// (at that host or stream, or where the search began); continuing from
// it gives each hit once.
func TestRunListOrPlaceFails(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	bg := func() (context.Context, func()) { return t.Context(), func() {} }
	req := Request{Matcher: m, Since: time.Unix(1, 0), Limit: 500}
	for _, w := range []int{1, 2, 4} {
		req.Workers = w
		src := &faultSource{memSource: newMemFleet(3, 300)}
		want := pages(t, bg, src, req, nil)
		for _, host := range []string{"lab-00", "lab-01", "lab-02"} {
			failed := 0
			src.failList = func(h string) error {
				if h == host && failed < 2 { // the first page and the next
					failed++
					return errStorage
				}
				return nil
			}
			if got := pages(t, bg, src, req, nil); !slices.Equal(got, want) {
				t.Errorf("%d workers, listing %s failing twice: %d hits; want the %d of one search, each once, in order (first difference %s)",
					w, host, len(got), len(want), firstDiff(got, want))
			}
			src.failList = nil
		}
		for _, k := range []store.Key{{Host: "lab-00", Stream: "app.log"}, {Host: "lab-01", Stream: "syslog"}} {
			var failed atomic.Bool // workers place streams at once
			src.offsetAt = func(_ context.Context, key store.Key) (int64, error) {
				if key == k && failed.CompareAndSwap(false, true) {
					return 0, errStorage
				}
				return 0, nil
			}
			if got := pages(t, bg, src, req, nil); !slices.Equal(got, want) {
				t.Errorf("%d workers, placing %s failing once: %d hits; want the %d of one search, each once, in order (first difference %s)",
					w, k, len(got), len(want), firstDiff(got, want))
			}
			src.offsetAt = nil
		}
	}
}

// TestRunRetentionPastWindow: when retention moves a stream's start past
// the end of a search's window while a line crossing a block's edge is
// under way, that line is dropped as at any gap, not matched on the part
// read: "tail error" is not the line "tail errors go on".
func TestRunRetentionPastWindow(t *testing.T) {
	m, err := Compile(Query{Pattern: "error"})
	if err != nil {
		t.Fatal(err)
	}
	k := store.Key{Host: "h", Stream: "s"}
	var b strings.Builder
	const cut = "tail error"
	for b.Len() < BlockSize-len(cut)-20 {
		b.WriteString("an error\n")
	}
	b.WriteString(strings.Repeat("x", BlockSize-len(cut)-b.Len()-1) + "\n")
	tail := int64(b.Len())
	b.WriteString(cut + "s go on\n")
	for b.Len() < 2*BlockSize {
		b.WriteString("an error\n")
	}
	mem := &memSource{streams: map[store.Key][]byte{k: []byte(b.String())}, read: map[store.Key]bool{}, starts: map[store.Key]int64{}}
	hi := int64(BlockSize + 500) // the window ends here (Until)
	src := &faultSource{memSource: mem, offsetAt: func(context.Context, store.Key) (int64, error) { return hi, nil }}
	src.failRead = func(_ store.Key, off int64) error {
		if off >= BlockSize {
			// Retention, between the first block and the second.
			mem.mu.Lock()
			mem.starts[k] = hi + 100
			mem.mu.Unlock()
		}
		return nil
	}
	var got []Result
	if _, err := Run(t.Context(), src, Request{Matcher: m, Workers: 1, Until: time.Unix(2, 0)}, func(r Result) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.Offset == tail {
			t.Errorf("a hit at %d, %q: the line there is %q, and retention took its end", r.Offset, r.Line, cut+"s go on")
		}
	}
}

package search

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cis490/cis490/internal/store"
)

// TestPlannerBlocks: the planner reads across filters that may hold the
// words and bytes without filters, up to BlockSize a read, and skips
// exactly the filters that cannot hold them.
func TestPlannerBlocks(t *testing.T) {
	const q = 256 << 10
	yes, no := BuildFilter([]byte("alpha beta")), BuildFilter([]byte("gamma"))
	m, err := Compile(Query{Pattern: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		end  int64
		skip bool
		edge store.Edge
	}
	flt := func(from, to int64, data []byte) store.Filter { return store.Filter{From: from, To: to, Data: data} }
	for _, tc := range []struct {
		name string
		hi   int64
		flts []store.Filter
		want []step
	}{
		{"no filters", 3 << 20, nil, []step{{1 << 20, false, 0}, {2 << 20, false, 0}, {3 << 20, false, 0}}},
		{"small filters that may hold, read a MiB at a time", 6 * q,
			[]store.Filter{flt(0, q, yes), flt(q, 2*q, yes), flt(2*q, 3*q, yes), flt(3*q, 4*q, yes), flt(4*q, 5*q, yes), flt(5*q, 6*q, yes)},
			[]step{{4 * q, false, 0}, {6 * q, false, 0}}},
		{"a read stops where a filter lets it skip", 6 * q,
			[]store.Filter{flt(0, q, yes), flt(q, 2*q, no), flt(2*q, 3*q, no), flt(3*q, 4*q, yes)},
			[]step{{q, false, 0}, {2 * q, true, 0}, {3 * q, true, 0}, {6 * q, false, 0}}},
		{"bytes before the first filter and between filters are read", 8 * q,
			[]store.Filter{flt(q, 2*q, no), flt(3*q, 4*q, yes), flt(6*q, 7*q, no)},
			[]step{{q, false, 0}, {2 * q, true, 0}, {6 * q, false, 0}, {7 * q, true, 0}, {8 * q, false, 0}}},
		{"a damaged filter may hold", 2 * q,
			[]store.Filter{flt(0, q, []byte("junk")), flt(q, 2*q, no)},
			[]step{{q, false, 0}, {2 * q, true, 0}}},
		{"a skipped filter says what its last byte says", 3 * q,
			[]store.Filter{{From: 0, To: q, Data: no, Edge: store.EdgeLineEnds}, {From: q, To: 2 * q, Data: no}, {From: 2 * q, To: 3 * q, Data: no, Edge: store.EdgeMidLine}},
			[]step{{q, true, store.EdgeLineEnds}, {2 * q, true, 0}, {3 * q, true, store.EdgeMidLine}}},
		{"the window ends inside a filter", 2*q + 100,
			[]store.Filter{flt(0, q, no), {From: q, To: 3 * q, Data: no, Edge: store.EdgeLineEnds}},
			[]step{{q, true, 0}, {2*q + 100, true, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &planner{m: m, flts: tc.flts, hi: tc.hi, known: tc.hi}
			var got []step
			for off := int64(0); off < tc.hi && len(got) < 20; {
				end, skip, edge := p.next(off)
				got = append(got, step{end, skip, edge})
				off = end
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("steps %v; want %v", got, tc.want)
			}
		})
	}
}

// TestPlannerPages: the filters of a long stream are asked for a page at
// a time, so that what a search holds does not grow with a stream's age.
func TestPlannerPages(t *testing.T) {
	m, err := Compile(Query{Pattern: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	no := BuildFilter([]byte("gamma"))
	const hi = 200 << 20
	var asked [][2]int64
	p := &planner{m: m, hi: hi, fetch: func(from, to int64) ([]store.Filter, error) {
		asked = append(asked, [2]int64{from, to})
		var out []store.Filter
		for b := from / BlockSize * BlockSize; b < to; b += BlockSize {
			out = append(out, store.Filter{From: b, To: b + BlockSize, Data: no})
		}
		return out, nil
	}}
	skipped := int64(0)
	for off := int64(0); off < hi; {
		end, skip, _ := p.next(off)
		if !skip {
			t.Fatalf("block [%d, %d) read; every filter says skip it", off, end)
		}
		skipped += end - off
		off = end
	}
	if skipped != hi || len(asked) != 4 {
		t.Fatalf("skipped %d of %d bytes in %d pages %v; want all in 4", skipped, hi, len(asked), asked)
	}
	for _, a := range asked {
		if a[1]-a[0] > filterPage {
			t.Fatalf("asked for the filters of [%d, %d): more than a page", a[0], a[1])
		}
	}
}

// filteredSource is memSource with a filter per 256 KiB block (cut at a
// line end where one is in its second half), given a
// stream at a time or a host at a time (at most hostMax of them).
type filteredSource struct {
	*memSource
	hostMax int
	mu      sync.Mutex
	byHost  int // HostFilters answered
	byKey   int // Filters answered
}

func (s *filteredSource) filters(k store.Key) []store.Filter {
	const block = 256 << 10
	b := s.streams[k]
	var out []store.Filter
	for from := 0; from < len(b); {
		to := min(from+block, len(b))
		if nl := bytes.LastIndexByte(b[from:to], '\n'); to < len(b) && nl >= block/2 {
			to = from + nl + 1 // most blocks end a line, as pgs3's may
		}
		if f := FilterOf(b[max(0, from-MaxLine):from], b[from:to], b[to:min(len(b), to+MaxLine)]); f != nil {
			out = append(out, store.Filter{From: int64(from), To: int64(to), Data: f, Edge: edgeOf(b[to-1])})
		}
		from = to
	}
	return out
}

func (s *filteredSource) Filters(_ context.Context, k store.Key, from, to int64) ([]store.Filter, error) {
	s.mu.Lock()
	s.byKey++
	s.mu.Unlock()
	var out []store.Filter
	for _, f := range s.filters(k) {
		if f.To > from && f.From < to {
			out = append(out, f)
		}
	}
	return out, nil
}

func (s *filteredSource) HostFilters(_ context.Context, host string, limit int) (map[string][]store.Filter, bool, error) {
	s.mu.Lock()
	s.byHost++
	s.mu.Unlock()
	out, n := map[string][]store.Filter{}, 0
	for k := range s.streams {
		if k.Host == host {
			out[k.Stream] = s.filters(k)
			n += len(out[k.Stream])
		}
	}
	return out, n <= min(limit, s.hostMax), nil
}

// TestRunHostFilters: a search asks a store that can for a host's filters
// in one question, and stream by stream where a host has too many; either
// way it finds what a scan of everything finds.
func TestRunHostFilters(t *testing.T) {
	src := newMemFleet(6, 20000) // ~1 MiB a stream
	for k, b := range src.streams {
		if k.Host == "lab-03" && k.Stream == "syslog" {
			src.streams[k] = append(b[:len(b)/2:len(b)/2], append([]byte("kernel: Out of memory: Killed process 77\n"), b[len(b)/2:]...)...)
		}
	}
	m, err := Compile(Query{Pattern: "Out of memory"})
	if err != nil {
		t.Fatal(err)
	}
	grep := func(s Source) ([]string, Summary) { return runHits(t, s, m) }
	want, _ := grep(src)
	if len(want) != 1 || !strings.Contains(want[0], "lab-03/syslog") {
		t.Fatalf("a scan of everything found %q; want the planted line", want)
	}
	for _, hostMax := range []int{hostFilters, 2} {
		t.Run(fmt.Sprintf("at most %d a host", hostMax), func(t *testing.T) {
			fs := &filteredSource{memSource: src, hostMax: hostMax}
			got, sum := grep(fs)
			if !slices.Equal(got, want) {
				t.Fatalf("with filters found %q; want %q", got, want)
			}
			if sum.BytesSkipped == 0 || sum.BytesScanned > sum.BytesSkipped/4 {
				t.Fatalf("%d bytes scanned, %d skipped; want nearly all skipped", sum.BytesScanned, sum.BytesSkipped)
			}
			if fs.byHost != 6 {
				t.Fatalf("asked %d times for a host's filters; want once a host (6)", fs.byHost)
			}
			if wantByKey := map[int]int{hostFilters: 0, 2: 12}[hostMax]; fs.byKey != wantByKey {
				t.Fatalf("asked %d times for a stream's filters; want %d", fs.byKey, wantByKey)
			}
		})
	}
}

// edgeOf is the Edge of a block whose last byte is c.
func edgeOf(c byte) store.Edge {
	if c == '\n' {
		return store.EdgeLineEnds
	}
	return store.EdgeMidLine
}

// fixedFilters is memSource with the filters given.
type fixedFilters struct {
	*memSource
	flts map[store.Key][]store.Filter
}

func (s fixedFilters) Filters(_ context.Context, k store.Key, from, to int64) ([]store.Filter, error) {
	return s.flts[k], nil
}

// TestRunLineAfterSkippedBlock: after a skipped block the search reads
// on at the line its filter says starts there, or the rest of the line
// it says goes on, or, not told, reads the byte before to learn which.
// The first block's filter was built while the stream ended in "kernel
// oops": it holds only that line's first words, so the line must be
// searched whole once it ends in "delta".
func TestRunLineAfterSkippedBlock(t *testing.T) {
	k := store.Key{Host: "lab-00", Stream: "syslog"}
	lines := []string{"sshd accepted key\n", "kernel oops at delta\n", "gamma ray\n"}
	stream := strings.Join(lines, "")
	at := func(i int) int { return len(strings.Join(lines[:i], "")) }
	mid := at(1) + len("kernel o")
	for _, tc := range []struct {
		edge    store.Edge
		to      int    // the filtered block's end
		after   string // the stream after the block when the filter was built
		pattern string
		hit     int // the line found
		read    int // bytes read
	}{
		{store.EdgeUnknown, at(1), "kernel oops", "delta", 1, len(stream) - at(1) + 1},
		{store.EdgeLineEnds, at(1), "kernel oops", "delta", 1, len(stream) - at(1)},
		{store.EdgeMidLine, mid, stream[mid:], "gamma", 2, len(stream) - mid},
	} {
		src := &memSource{streams: map[store.Key][]byte{k: []byte(stream)}, read: map[store.Key]bool{}, starts: map[store.Key]int64{}}
		flt := FilterOf(nil, []byte(stream[:tc.to]), []byte(tc.after))
		fs := fixedFilters{src, map[store.Key][]store.Filter{k: {{From: 0, To: int64(tc.to), Data: flt, Edge: tc.edge}}}}
		m, err := Compile(Query{Pattern: tc.pattern})
		if err != nil {
			t.Fatal(err)
		}
		got, sum := runHits(t, fs, m)
		want := fmt.Sprintf("lab-00/syslog@%d %s", at(tc.hit), strings.TrimSuffix(lines[tc.hit], "\n"))
		if len(got) != 1 || got[0] != want || sum.BlocksSkipped != 1 {
			t.Fatalf("edge %d: found %q, %d blocks skipped; want %q after the skipped block", tc.edge, got, sum.BlocksSkipped, want)
		}
		if _, n := src.streamsRead(); n != int64(tc.read) {
			t.Fatalf("edge %d: read %d bytes; want %d", tc.edge, n, tc.read)
		}
	}
}

// runHits searches src for m and returns the hits, as fmtHit prints them.
func runHits(t *testing.T, src Source, m *Matcher) ([]string, Summary) {
	t.Helper()
	var hits []string
	sum, err := Run(t.Context(), src, Request{Matcher: m}, func(r Result) error {
		hits = append(hits, fmtHit(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits, sum
}

// TestRunSkipToWindowEnd: a skipped block that reaches the window's end
// ends the line the scan was reading, unmatched: that line overlaps the
// block, whose filter holds it whole and says it does not match. Matched
// as it stood at the block, "x foo" of "x foobar" would be a hit that a
// scan of everything does not find.
func TestRunSkipToWindowEnd(t *testing.T) {
	k := store.Key{Host: "lab-00", Stream: "syslog"}
	stream := "alpha\nx foobar\n"
	cut := strings.Index(stream, "bar")
	m, err := Compile(Query{Pattern: "foo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, edge := range []store.Edge{store.EdgeUnknown, store.EdgeLineEnds} {
		src := &memSource{streams: map[store.Key][]byte{k: []byte(stream)}, read: map[store.Key]bool{}, starts: map[store.Key]int64{}}
		want, _ := runHits(t, src, m)
		flt := FilterOf([]byte(stream[:cut]), []byte(stream[cut:]), nil)
		fs := fixedFilters{src, map[store.Key][]store.Filter{k: {{From: int64(cut), To: int64(len(stream)), Data: flt, Edge: edge}}}}
		got, sum := runHits(t, fs, m)
		if sum.BlocksSkipped != 1 || !slices.Equal(got, want) {
			t.Fatalf("edge %d: found %q, %d blocks skipped; want %q, the block skipped", edge, got, sum.BlocksSkipped, want)
		}
	}
}

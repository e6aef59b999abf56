package search

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		q    Query
		line string
		want bool
	}{
		{Query{Pattern: "memory"}, "Out of memory: killed process", true},
		{Query{Pattern: "memory"}, "memory", true},
		{Query{Pattern: "memory"}, "memoryless", false},
		{Query{Pattern: "memory"}, "low-memory.", true},
		{Query{Pattern: "memory"}, "Memory", false},
		{Query{Pattern: "memory", IgnoreCase: true}, "MEMORY low", true},
		{Query{Pattern: "out of memory"}, "kernel: Out of memory", false},
		{Query{Pattern: "out of memory", IgnoreCase: true}, "kernel: Out of memory", true},
		{Query{Pattern: "of mem"}, "out of memory", false},
		{Query{Pattern: "of mem", Mode: Substring}, "out of memory", true},
		{Query{Pattern: "ut of mem", Mode: Substring}, "out of memory", true},
		{Query{Pattern: "[ERROR]"}, "x[ERROR]y", true}, // no word edge needed next to punctuation
		{Query{Pattern: "req-42"}, "id=req-42,", true},
		{Query{Pattern: "req-42"}, "id=req-421", false},
		{Query{Pattern: "memory"}, "a memoryless memory", true}, // the second find is whole
		{Query{Pattern: "école"}, "à l'école.", true},
		{Query{Pattern: "école"}, "écoles", false},
		{Query{Pattern: "ÉCOLE", IgnoreCase: true}, "à l'école.", true},
		{Query{Pattern: "ÉCOLE", IgnoreCase: true}, "écoles", false},
		{Query{Pattern: `segfault at [0-9a-f]+`, Mode: Regex}, "app[12]: segfault at 7f3a ip", true},
		{Query{Pattern: `segfault at [0-9a-f]+`, Mode: Regex}, "app[12]: Segfault at 7f3a ip", false},
		{Query{Pattern: `segfault at [0-9a-f]+`, Mode: Regex, IgnoreCase: true}, "app[12]: Segfault at 7f3a ip", true},
		{Query{Pattern: `^sshd\[\d+\]: Failed`, Mode: Regex}, "sshd[42]: Failed password", true},
		{Query{Pattern: `error|fail`, Mode: Regex}, "it failed", true},
	}
	for _, tc := range tests {
		m, err := Compile(tc.q)
		if err != nil {
			t.Fatalf("Compile(%+v): %v", tc.q, err)
		}
		if got := m.Match([]byte(tc.line)); got != tc.want {
			t.Errorf("%+v on %q: %v, want %v", tc.q, tc.line, got, tc.want)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		q    Query
		want error
	}{
		{Query{}, ErrEmpty},
		{Query{Pattern: strings.Repeat("x", MaxPattern+1)}, ErrTooLong},
		{Query{Pattern: "a\nb"}, ErrNewline},
		{Query{Pattern: "a(", Mode: Regex}, ErrBadRegex},
	}
	for _, tc := range tests {
		if _, err := Compile(tc.q); !errors.Is(err, tc.want) {
			t.Errorf("Compile(%.20q): %v, want %v", tc.q.Pattern, err, tc.want)
		}
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		q    Query
		want []string
	}{
		{Query{Pattern: "Out of memory"}, []string{"out", "of", "memory"}},
		{Query{Pattern: "[ERROR] disk"}, []string{"error", "disk"}},
		{Query{Pattern: "ut of mem", Mode: Substring}, []string{"of"}},
		{Query{Pattern: "memory", Mode: Substring}, nil},
		// Unanchored, the literal's first word may end a longer one
		// ("xsegfault at 7f"): only words inside it are whole.
		{Query{Pattern: `segfault at [0-9a-f]+`, Mode: Regex}, []string{"at"}},
		{Query{Pattern: `(?i)kernel: oom-kill`, Mode: Regex}, []string{"oom"}},
		{Query{Pattern: `error|fail`, Mode: Regex}, nil},
		{Query{Pattern: "ÉCOLE de", IgnoreCase: true}, []string{"de"}},
	}
	for _, tc := range tests {
		m, err := Compile(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Tokens(), tc.want) {
			t.Errorf("%+v: tokens %q, want %q", tc.q, m.Tokens(), tc.want)
		}
	}
}

// naive is the reference: every line on its own, first MaxLine bytes.
func naive(m *Matcher, stream []byte) []string {
	var out []string
	off := 0
	for _, l := range bytes.SplitAfter(stream, []byte{'\n'}) {
		if len(l) == 0 {
			continue
		}
		line := bytes.TrimSuffix(l, []byte{'\n'})
		if len(line) > MaxLine {
			line = line[:MaxLine]
		}
		if m.Match(line) {
			out = append(out, fmt.Sprintf("%d:%s", off, line))
		}
		off += len(l)
	}
	return out
}

// scanBlocks scans stream as a search does: in blocks, each skipped when
// its filter says the tokens are not there, each fed in chunks.
func scanBlocks(t *testing.T, m *Matcher, stream []byte, block, chunk int) (hits []string, skipped int) {
	t.Helper()
	hits, skipped = scanBlocksCounting(t, m, stream, block, chunk, false)
	return hits, skipped
}

// scanBlocksCounting is scanBlocks with the scanner's Counting set as
// counting says: then only the number of hits is meaningful.
func scanBlocksCounting(t *testing.T, m *Matcher, stream []byte, block, chunk int, counting bool) (hits []string, skipped int) {
	t.Helper()
	s := NewScanner(m, func(h Hit) error {
		hits = append(hits, fmt.Sprintf("%d:%s", h.Offset, h.Line))
		return nil
	})
	s.Counting = counting
	for from := 0; from < len(stream); from += block {
		to := min(from+block, len(stream))
		raw := FilterOf(stream[max(0, from-MaxLine):from], stream[from:to], stream[to:min(len(stream), to+MaxLine)])
		if raw == nil && to < len(stream) && bytes.IndexByte(stream[to:min(len(stream), to+MaxLine)], '\n') >= 0 {
			t.Fatalf("no filter for a block [%d, %d) whose last line ends", from, to)
		}
		f, err := ParseFilter(raw)
		if raw != nil && err != nil {
			t.Fatal(err)
		}
		if raw != nil && !f.MayHold(m.Tokens()) {
			skipped++
			continue
		}
		for c := from; c < to; c += chunk {
			if err := s.Feed(int64(c), stream[c:min(to, c+chunk)]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return hits, skipped
}

// TestSkippingLosesNoLine: with blocks and chunks cut anywhere (mid-line,
// mid-word), the lines found with block skipping are exactly those a line
// by line search finds, and blocks without the words are skipped.
func TestSkippingLosesNoLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"kernel", "sshd", "Accepted", "password", "for", "root", "from", "port", "session", "opened", "cron", "CMD", "systemd", "Started", "disk", "full", "xsshd", "sshdx"}
	var b strings.Builder
	for i := range 20000 {
		n := 3 + rng.IntN(12)
		for j := range n {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		switch {
		case i%2500 == 7:
			b.WriteString(" Out of memory: Killed process 4242")
		case i%6000 == 11:
			b.WriteString(" " + strings.Repeat("long ", MaxLine/5+10) + "Out of memory")
		}
		b.WriteByte('\n')
	}
	b.WriteString("trailing Out of memory line without newline")
	stream := []byte(b.String())
	queries := []Query{
		{Pattern: "Out of memory"},
		{Pattern: "out of MEMORY", IgnoreCase: true},
		{Pattern: "of mem", Mode: Substring},
		{Pattern: `Killed process \d+`, Mode: Regex},
		{Pattern: "sshd"},
		{Pattern: "nowhere"},
	}
	for _, q := range queries {
		m, err := Compile(q)
		if err != nil {
			t.Fatal(err)
		}
		want := naive(m, stream)
		for _, cut := range [][2]int{{1 << 20, 1 << 20}, {64 << 10, 4096}, {8191, 1000}, {4096, 7}} {
			got, skipped := scanBlocks(t, m, stream, cut[0], cut[1])
			if !slices.Equal(got, want) {
				t.Errorf("%+v, blocks of %d in chunks of %d: %d lines found, want %d (first found %.60q, want %.60q)",
					q, cut[0], cut[1], len(got), len(want), first(got), first(want))
			}
			if n, _ := scanBlocksCounting(t, m, stream, cut[0], cut[1], true); len(n) != len(want) {
				t.Errorf("%+v, blocks of %d in chunks of %d, counting: %d lines; want %d", q, cut[0], cut[1], len(n), len(want))
			}
			blocks := (len(stream) + cut[0] - 1) / cut[0]
			// All but the last: the stream ends inside a line, which may
			// still grow, so that block has no filter.
			if q.Pattern == "nowhere" && skipped != blocks-1 {
				t.Errorf("%q: %d of %d blocks skipped; want all but the last", q.Pattern, skipped, blocks)
			}
			if q.Pattern == "Out of memory" && cut[0] == 4096 && skipped < blocks/2 {
				t.Errorf("%q: %d of %d blocks skipped; a rare phrase should skip most", q.Pattern, skipped, blocks)
			}
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestCutLines: a line longer than MaxLine is matched on its first
// MaxLine bytes and reported cut; the scanner keeps no more of it.
func TestCutLines(t *testing.T) {
	m, _ := Compile(Query{Pattern: "needle"})
	long := "needle " + strings.Repeat("x", 3*MaxLine) + "\n"
	late := strings.Repeat("y ", MaxLine) + "needle\n"
	type hit struct {
		off int64
		cut bool
	}
	var hits []hit
	s := NewScanner(m, func(h Hit) error { hits = append(hits, hit{h.Offset, h.Cut}); return nil })
	stream := []byte(long + late + "needle\n")
	for c := 0; c < len(stream); c += 1000 {
		if err := s.Feed(int64(c), stream[c:min(len(stream), c+1000)]); err != nil {
			t.Fatal(err)
		}
		if cap(s.line) > MaxLine {
			t.Fatalf("the scanner holds %d bytes of a line; want at most %d", cap(s.line), MaxLine)
		}
	}
	s.Flush()
	want := []hit{{0, true}, {int64(len(long + late)), false}}
	if !slices.Equal(hits, want) {
		t.Fatalf("hits %+v; want %+v (the needle past MaxLine is not searched)", hits, want)
	}
}

// TestFilterDamaged: a filter that does not check out is refused, so the
// block is scanned.
func TestFilterDamaged(t *testing.T) {
	f := FilterOf(nil, []byte("kernel: Out of memory\n"), nil)
	if _, err := ParseFilter(f); err != nil {
		t.Fatal(err)
	}
	for i := range f {
		bad := slices.Clone(f)
		bad[i] ^= 0x10
		if _, err := ParseFilter(bad); err == nil {
			t.Fatalf("a filter with byte %d flipped was accepted", i)
		}
	}
	for _, bad := range [][]byte{nil, f[:len(f)-1], append(slices.Clone(f), 0)} {
		if _, err := ParseFilter(bad); err == nil {
			t.Fatalf("a filter of %d bytes (of %d) was accepted", len(bad), len(f))
		}
	}
}

// FuzzSkipping checks on any text and any cuts that skipping blocks
// finds what a line-by-line search finds.
func FuzzSkipping(f *testing.F) {
	f.Add([]byte("a b\nOut of memory\nc"), "memory", uint8(0), uint16(5), uint16(3))
	f.Add([]byte("xx\nyy of memzz\n"), "of mem", uint8(1), uint16(4), uint16(2))
	f.Fuzz(func(t *testing.T, stream []byte, pattern string, mode uint8, block, chunk uint16) {
		q := Query{Pattern: pattern, Mode: Mode(mode % 3), IgnoreCase: mode&4 != 0}
		m, err := Compile(q)
		if err != nil {
			return
		}
		want := naive(m, stream)
		got, _ := scanBlocks(t, m, stream, 1+int(block%4096), 1+int(chunk%512))
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: found %q, want %q", q, got, want)
		}
	})
}

// TestOpenLastLine: a block whose last line the stream has not finished
// yet gets no filter: the words still to come would be missing from it,
// and a search would skip the block and lose the line.
func TestOpenLastLine(t *testing.T) {
	if f := FilterOf(nil, []byte("ok\nkernel: Out of"), nil); f != nil {
		t.Fatal("a block ending inside a line the stream has not finished got a filter")
	}
	f, err := ParseFilter(FilterOf(nil, []byte("ok\nkernel: Out of"), []byte(" memory\nnext")))
	if err != nil || !f.MayHold([]string{"out", "of", "memory"}) {
		t.Fatalf("the finished line's words are not all in the block's filter (%v)", err)
	}
}

// TestCutAtAWord: a line is matched on its first MaxLine bytes, so a word
// the cut ends ("memory" of "memoryless") is whole to the matcher; the
// filters must not skip the line's blocks for lacking it.
func TestCutAtAWord(t *testing.T) {
	stream := []byte("ok\n" + strings.Repeat("a", MaxLine-7) + " memoryless\nok\n")
	m, err := Compile(Query{Pattern: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	want := naive(m, stream)
	if len(want) != 1 {
		t.Fatalf("the line-by-line search found %q; want the cut line", want)
	}
	for _, block := range []int{4096, MaxLine, 1 << 20} {
		if got, _ := scanBlocks(t, m, stream, block, 1000); !slices.Equal(got, want) {
			t.Errorf("blocks of %d: found %.40q, want %.40q", block, got, want)
		}
	}
}

// TestLineOfMaxLine: a line of exactly MaxLine bytes is searched whole
// and not reported cut, however its bytes come in.
func TestLineOfMaxLine(t *testing.T) {
	m, _ := Compile(Query{Pattern: "needle"})
	stream := []byte("needle " + strings.Repeat("x", MaxLine-7) + "\nok\n")
	for _, chunk := range []int{MaxLine, 1000, 1 << 20} {
		var cut []bool
		s := NewScanner(m, func(h Hit) error { cut = append(cut, h.Cut); return nil })
		for c := 0; c < len(stream); c += chunk {
			if err := s.Feed(int64(c), stream[c:min(len(stream), c+chunk)]); err != nil {
				t.Fatal(err)
			}
		}
		s.Flush()
		if !slices.Equal(cut, []bool{false}) {
			t.Errorf("chunks of %d: hits cut %v; want one, not cut", chunk, cut)
		}
	}
}

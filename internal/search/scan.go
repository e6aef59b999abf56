package search

import (
	"bytes"
	"slices"
)

// MaxLine is how much of a line is searched: a longer line is matched on
// its first MaxLine bytes and reported cut. Bounding it bounds a search's
// memory, and it is what lets a block's filter stand for every line that
// overlaps the block (FilterOf).
const MaxLine = 64 << 10

// FilterOf builds the filter of one block of a stream. before is what
// the stream holds right before the block and after what follows it (up
// to MaxLine each, fewer at the stream's ends): the filter takes in the
// lines the block begins and ends in, whole, so that a line crossing a
// block's edge — shipped chunks are not line-aligned — is found through
// the filter of every block it touches.
//
// It returns nil while the block's last line is still open (the stream
// ends inside it, short of MaxLine): its words to come would be missing.
// Such a block gets no filter (it is scanned), or waits for more bytes.
func FilterOf(before, block, after []byte) []byte {
	if len(block) > 0 && block[len(block)-1] != '\n' && len(after) < MaxLine && bytes.IndexByte(after, '\n') < 0 {
		return nil
	}
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	} else if len(before) >= MaxLine {
		// The line began further back: its first MaxLine bytes, all that
		// is searched of it, lie before the block. The scanner decides
		// such a line before it reaches the block.
		before = nil
	}
	if i := bytes.IndexByte(after, '\n'); i >= 0 {
		after = after[:i]
	}
	data := slices.Concat(before, block, after)
	return buildFilter(data, cutTokens(data))
}

// cutTokens are the hashes of the words that a line's cut at MaxLine
// ends inside of, as far as the cut: the matcher sees the line's first
// MaxLine bytes, so to it "memory" of a "memoryless" cut after the "y" is
// a whole word.
func cutTokens(data []byte) []uint64 {
	var out []uint64
	for p := 0; p < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[p:], '\n'); i >= 0 {
			end = p + i
		}
		if c := p + MaxLine; end > c && isTokenByte(data[c-1]) && isTokenByte(data[c]) {
			w := c - 1
			for w > p && isTokenByte(data[w-1]) {
				w--
			}
			out = append(out, hashToken(data[w:c]))
		}
		p = end + 1
	}
	return out
}

// Hit is one matching line.
type Hit struct {
	Offset int64  // the line's first byte in the stream
	Line   []byte // without its newline, at most MaxLine bytes; valid during the call only
	Cut    bool   // the line is longer than MaxLine
}

// Scanner finds the lines of one stream that match, fed the stream's
// bytes in chunks, in order, that need not end at line ends. A gap
// between chunks is a block the filters skipped: no line that overlaps it
// matches, so the line being read is dropped and the next one starts at
// the next newline.
type Scanner struct {
	// Counting says only how many lines match is wanted: the scanner may
	// then report a hit without its line or offset (Offset -1).
	Counting bool

	m    *Matcher
	emit func(Hit) error

	next    int64  // the offset the next chunk should start at
	started bool   // fed at least once
	line    []byte // the line being read, up to MaxLine bytes
	lineOff int64
	drop    bool // reading past a line's end: to the next newline
	cut     bool // the line being read went past MaxLine (it was decided)
	fold    []byte
}

// NewScanner returns a scanner that calls emit for every matching line;
// an error from emit stops the scan and is returned by Feed.
func NewScanner(m *Matcher, emit func(Hit) error) *Scanner {
	return &Scanner{m: m, emit: emit}
}

// Begin starts the scan at off; lineStart says a line starts there. If
// not, the bytes up to the first newline are the end of a line that began
// before and are not searched. Without Begin, the scan starts at the
// first Feed's offset, a line start only at offset 0.
func (s *Scanner) Begin(off int64, lineStart bool) {
	s.line, s.drop, s.cut = s.line[:0], !lineStart, false
	s.started, s.next, s.lineOff = true, off, off
}

// Feed gives the scanner data, the stream's bytes from off on.
func (s *Scanner) Feed(off int64, data []byte) error {
	switch {
	case !s.started:
		s.Begin(off, off == 0)
	case off != s.next:
		// A skipped block: the line being read overlaps it and cannot
		// match, nor can the one the block ends in.
		s.line, s.drop, s.cut = s.line[:0], true, false
	}
	s.next = off + int64(len(data))
	// Finish the line under way.
	if s.drop || len(s.line) > 0 || s.cut {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return s.extend(data)
		}
		if err := s.extend(data[:i]); err != nil {
			return err
		}
		if err := s.end(); err != nil {
			return err
		}
		data, off = data[i+1:], off+int64(i)+1
	}
	// Whole lines.
	last := bytes.LastIndexByte(data, '\n')
	if last >= 0 {
		if err := s.lines(off, data[:last]); err != nil {
			return err
		}
		data, off = data[last+1:], off+int64(last)+1
	}
	// The start of a line that ends in a later chunk.
	s.lineOff = off
	return s.extend(data)
}

// Resume is where a scan stopped between two Feeds should start again,
// and whether a line starts there: the line being read, or the next.
func (s *Scanner) Resume() (off int64, lineStart bool) {
	if s.drop || s.cut {
		return s.next, false
	}
	return s.lineOff, true
}

// Flush ends the stream: a last line without its newline is matched too.
func (s *Scanner) Flush() error {
	if len(s.line) == 0 && !s.cut && !s.drop {
		return nil
	}
	return s.end()
}

// extend adds part of the line being read.
func (s *Scanner) extend(p []byte) error {
	if s.drop || s.cut || len(p) == 0 {
		return nil
	}
	room := MaxLine - len(s.line)
	if need := len(s.line) + min(len(p), room); need > cap(s.line) {
		// Grown by doubling, but never past MaxLine.
		grown := make([]byte, len(s.line), min(MaxLine, max(2*cap(s.line), need)))
		copy(grown, s.line)
		s.line = grown
	}
	if len(p) <= room {
		// Up to MaxLine: whether the line is longer shows with its next
		// byte, so a line of exactly MaxLine is decided at its newline.
		s.line = append(s.line, p...)
		return nil
	}
	// Past MaxLine: decide the line now, read on to its end.
	s.line = append(s.line, p[:room]...)
	s.cut = true
	return s.decide(s.lineOff, s.line, true)
}

// end closes the line being read at its newline.
func (s *Scanner) end() error {
	var err error
	if !s.drop && !s.cut {
		err = s.decide(s.lineOff, s.line, false)
	}
	s.line, s.drop, s.cut = s.line[:0], false, false
	return err
}

func (s *Scanner) decide(off int64, line []byte, cut bool) error {
	if s.m.Match(line) {
		return s.emit(Hit{Offset: off, Line: line, Cut: cut})
	}
	return nil
}

// lines matches the whole lines of p (newline-separated, the last one's
// newline not in p) at off. With a needle it looks for the needle in p
// first and only splits the lines around a find: most lines never match.
func (s *Scanner) lines(off int64, p []byte) error {
	hay := p
	if s.m.fold && len(s.m.needle) > 0 {
		s.fold = append(s.fold[:0], p...)
		hay = lowerASCII(s.fold)
	}
	// from is a line's start at or before the next find's line: pos may
	// be inside a line, past a find whose word edges were not there.
	for from, pos := 0, 0; pos <= len(p); {
		start, at := from, -1
		if len(s.m.needle) > 0 {
			i := bytes.Index(hay[pos:], s.m.needle)
			if i < 0 {
				return nil
			}
			at = pos + i
			if s.Counting && s.m.re == nil {
				// Only whether the line matches counts: no need to find
				// where it starts unless it may be cut. A newline is not
				// a word's byte, so the edges read the same from from.
				end := len(p)
				if j := bytes.IndexByte(p[at:], '\n'); j >= 0 {
					end = at + j
				}
				if end-from <= MaxLine {
					if !s.m.edgesAt(hay[from:end], at-from) {
						pos = at + 1
						continue
					}
					if err := s.emit(Hit{Offset: -1}); err != nil {
						return err
					}
					from, pos = end+1, end+1
					continue
				}
			}
			start = from + bytes.LastIndexByte(hay[from:at], '\n') + 1
		}
		end := len(p)
		if j := bytes.IndexByte(p[start:], '\n'); j >= 0 {
			end = start + j
		}
		line, cut := p[start:end], false
		if len(line) > MaxLine {
			line, cut = line[:MaxLine], true
		}
		match := false
		switch {
		case at >= 0 && s.m.re == nil && at+len(s.m.needle) <= start+len(line):
			// Words or substring: the find is the match if its edges are.
			if !s.m.edgesAt(hay[start:start+len(line)], at-start) {
				// A later find in this line may be whole.
				from, pos = start, at+1
				continue
			}
			match = true
		default:
			match = s.m.Match(line)
		}
		if match {
			if err := s.emit(Hit{Offset: off + int64(start), Line: line, Cut: cut}); err != nil {
				return err
			}
		}
		from, pos = end+1, end+1
	}
	return nil
}

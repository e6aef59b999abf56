package index

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"

	"github.com/cis490/cis490/internal/vfs"
)

// tailMarks is how many of the last lines a checkpoint identifies: more
// than a receiver has in flight when it crashes.
const tailMarks = 64

// maxLine bounds an index line; a longer one (garbage, a file of zeros) is
// malformed and skipped, not held in memory.
const maxLine = 1 << 20

// resumeAt says where to go on reading file p after cp: at cp.Offset if the
// line the checkpoint ends with is still there, else after the newest of
// its marked lines still in place (whole is false when none is).
func resumeAt(fsys vfs.FS, p string, cp Checkpoint) (from int64, whole bool) {
	if cp.Offset == 0 {
		return 0, true
	}
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return cp.Offset, true // pruned: nothing to reread
	}
	defer f.Close()
	if len(cp.Tail) == 0 {
		return cp.Offset, true // a checkpoint of an empty read
	}
	for i := len(cp.Tail) - 1; i >= 0; i-- {
		m := cp.Tail[i]
		start := int64(-1) // unknown for the oldest mark: found by its newline
		if i > 0 {
			start = cp.Tail[i-1].End
		}
		if lineAt(f, start, m.End) == m.Hash {
			return m.End, true
		}
	}
	return 0, false
}

// lineAt hashes the line ending at end (start, when known, is where it
// begins; -1 means search back for the newline before it).
func lineAt(f io.ReaderAt, start, end int64) uint64 {
	if end <= 0 {
		return 0
	}
	if start < 0 || start >= end || end-start > maxLine {
		n := min(end, maxLine)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, end-n); err != nil {
			return 0
		}
		if i := bytes.LastIndexByte(buf[:n-1], '\n'); i >= 0 {
			buf = buf[i+1:]
		}
		return lineHash(buf)
	}
	buf := make([]byte, end-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return 0
	}
	return lineHash(buf)
}

// mergeTail keeps the newest tailMarks marks of old (those ending at or
// before from) and new.
func mergeTail(old []Mark, from int64, added []Mark) []Mark {
	var out []Mark
	for _, m := range old {
		if m.End <= from {
			out = append(out, m)
		}
	}
	out = append(out, added...)
	if len(out) > tailMarks {
		out = out[len(out)-tailMarks:]
	}
	return append([]Mark(nil), out...)
}

// lineHash identifies a line (with its newline, if any).
func lineHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// fileRead is what readFile did.
type fileRead struct {
	next int64  // the offset after the last line taken
	tail []Mark // the last lines taken, oldest first
	stop bool   // line said stop
}

// lineFunc takes one line of a day file, parsed (l is nil when the line is
// not an index line), and says whether to go on.
type lineFunc func(l *Line) bool

// lineFate is what reading made of a line.
type lineFate uint8

const (
	lineParsed lineFate = iota
	lineBad             // not an index line
	lineEarly           // stamped before the read's start: not parsed, not handed on
)

// tsHead is how the writer starts every line: its stamp comes first.
const tsHead = `{"ts":"`

// stampedBefore reports whether line starts as the writer starts its
// lines, with a stamp in TimeFormat earlier than early (one too; nil:
// none is early). A first read skips such a line unparsed: it is
// older than the read wants, whatever the rest of it holds (the writer
// writes ts once). Stamps in TimeFormat sort as their instants do.
func stampedBefore(line, early []byte) bool {
	n := len(tsHead) + len(TimeFormat)
	if early == nil || len(line) <= n || string(line[:len(tsHead)]) != tsHead || line[n] != '"' {
		return false
	}
	stamp := line[len(tsHead):n]
	if string(stamp) >= string(early) {
		return false // most lines of a read: no need to check the form
	}
	for i := range len(TimeFormat) {
		c, f := stamp[i], TimeFormat[i]
		if f >= '0' && f <= '9' {
			if c < '0' || c > '9' {
				return false
			}
		} else if c != f {
			return false
		}
	}
	return true
}

// seqBuf is the sequential reader's buffer; longLine is the longest line
// (with its newline) that is parsed: the sequential reader keeps pieces
// of a longer line until they exceed maxLine, so it parses lines of up
// to five buffers. The parallel reader keeps to the same bound, so both
// skip exactly the same lines.
const (
	seqBuf   = 256 << 10
	longLine = (maxLine/seqBuf + 1) * seqBuf
)

// taken records the ends of the last lines taken; they are hashed once,
// at the end of a file, not line by line.
type taken struct {
	ends [tailMarks + 1]int64 // the marked lines and the end of the one before
	n    int
	res  *fileRead
}

func (t *taken) took(end int64) {
	t.ends[t.n%len(t.ends)] = end
	t.n++
	t.res.next = end
}

// marks hashes the last lines taken from f, read from offset from.
func (t *taken) marks(f io.ReaderAt, from int64) []Mark {
	if t.n == 0 {
		return nil
	}
	ring := len(t.ends)
	k := min(t.n, tailMarks)
	start := from
	if t.n > k {
		start = t.ends[(t.n-k-1)%ring]
	}
	var out []Mark
	for i := t.n - k; i < t.n; i++ {
		end := t.ends[i%ring]
		out = append(out, Mark{End: end, Hash: lineAt(f, start, end)})
		start = end
	}
	return out
}

// readFile reads the whole lines of one day file from offset from, calling
// line with each, parsed, until line says stop. A last unfinished line of
// the newest file is left for the next run; one in an older file (cut
// short by a crash, never to be finished) is malformed. A long read is
// parsed on every core (see readChunks), a short one line by line here:
// both hand line the same lines in the same order.
//
// early, when set, is a stamp in TimeFormat: lines stamped before it are
// skipped unparsed (stampedBefore), as a first read would drop them.
func readFile(ctx context.Context, fsys vfs.FS, p string, from int64, newest bool, st *ReadStats, tune parTune, seen *strs, early []byte, line lineFunc) (res fileRead, err error) {
	res.next = from
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil // pruned while we looked
	}
	if err != nil {
		return res, fmt.Errorf("open the index: %w", err)
	}
	defer f.Close()
	tk := taken{res: &res}
	if size, serr := f.Size(); serr == nil && tune.parallel(size-from) {
		err = readChunks(ctx, f, p, from, newest, st, tune, early, &tk, line)
	} else {
		err = readLines(ctx, f, p, from, newest, st, seen, early, &tk, line)
	}
	if err != nil {
		return res, err
	}
	res.tail = tk.marks(f, from)
	return res, nil
}

// readLines is readFile one line at a time, parsing each in turn.
func readLines(ctx context.Context, f io.ReaderAt, p string, from int64, newest bool, st *ReadStats, seen *strs, early []byte, tk *taken, line lineFunc) error {
	br := bufio.NewReaderSize(&fileReader{f: f, off: from}, seqBuf)
	var long []byte // a line longer than the buffer
	var l Line
	skipping := false
	off := from
	for i := 0; ; i++ {
		if i%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !skipping {
				long = append(long, chunk...)
				if len(long) > maxLine {
					skipping, long = true, nil
				}
			}
			off += int64(len(chunk))
			continue
		}
		if err == io.EOF {
			if len(chunk)+len(long) > 0 && !newest || skipping && !newest {
				st.Malformed++
				off += int64(len(chunk))
				tk.took(off)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the index %s: %w", p, err)
		}
		off += int64(len(chunk))
		if skipping {
			skipping = false
			st.Malformed++
			tk.took(off)
			continue
		}
		b := chunk
		if long != nil {
			b = append(long, chunk...)
			long = nil
		}
		if stampedBefore(b[:len(b)-1], early) {
			tk.took(off)
			continue
		}
		lp := &l
		if parseLine(b[:len(b)-1], &l, seen) != nil {
			lp = nil
		}
		if !line(lp) {
			tk.res.stop = true
			return nil
		}
		tk.took(off)
	}
}

// fileReader reads a file on from an offset through ReadAt (vfs.File has
// no Seek). The newest day file grows while it is read: reading goes on
// to its end as it is then, not as it was when opened.
type fileReader struct {
	f   io.ReaderAt
	off int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // the next Read says EOF, as a file's Read does
	}
	return n, err
}

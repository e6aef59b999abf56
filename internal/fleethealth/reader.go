package fleethealth

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
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// Checkpoint is where the last run stopped reading the index: a day file
// and the byte offset after the last whole line read. It survives
// rotation: files are named by day, so a pruned file is simply before
// every file still there.
type Checkpoint struct {
	File   string    `json:"file"`
	Offset int64     `json:"offset"`
	Seq    uint64    `json:"seq"` // the last line's number and stamp
	TS     time.Time `json:"ts"`
	// Tail identifies the last lines read (oldest first, the last one
	// ending at Offset). After a receiver crash, recovery cuts the index
	// lines that never became durable and numbers the next ones anew, so
	// a file may be cut and rewritten below the checkpoint: the newest
	// mark still in place says where reading resumes.
	Tail []Mark `json:"tail,omitempty"`
}

// Mark is a line of the index by the offset it ends at and a hash.
type Mark struct {
	End  int64  `json:"end"`
	Hash uint64 `json:"hash"`
}

// tailMarks is how many of the last lines a checkpoint identifies: more
// than a receiver has in flight when it crashes.
const tailMarks = 64

// maxLine bounds an index line; a longer one (garbage, a file of zeros) is
// malformed and skipped, not held in memory.
const maxLine = 1 << 20

// ReadStats counts what a read saw.
type ReadStats struct {
	Lines     int // index lines handed on
	Malformed int // whole lines that are not index lines, skipped
}

var dayFile = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}\.jsonl$`)

// readIndex hands fn every index line after cp, in file order, up to and
// excluding the first line stamped after until (a replay as of an instant
// stops there) or a torn last line (a line being written), and returns
// where it stopped. Without a checkpoint it starts with the day file of
// since and skips lines stamped before since. Lines are read one at a
// time, so memory does not grow with the index.
func readIndex(ctx context.Context, dir string, cp Checkpoint, since, until time.Time, fn func(*Rec)) (Checkpoint, ReadStats, error) {
	var st ReadStats
	ents, err := os.ReadDir(dir)
	if err != nil {
		return cp, st, fmt.Errorf("read the index folder: %w", err)
	}
	var files []string
	for _, e := range ents {
		if dayFile.MatchString(e.Name()) && e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	first := cp.File
	fresh := first == ""
	if fresh {
		first = since.UTC().Format("2006-01-02") + ".jsonl"
	}
	var rec Rec
	for fi, name := range files {
		if name < first {
			continue
		}
		if err := ctx.Err(); err != nil {
			return cp, st, err
		}
		p := filepath.Join(dir, name)
		var from int64
		var skipSeq uint64
		if name == cp.File {
			var whole bool
			from, whole = resumeAt(p, cp)
			if !whole {
				// Cut deeper than the marks reach: read it again,
				// skipping the lines numbered up to the last one read.
				skipSeq = cp.Seq
			}
		}
		res, err := readFile(ctx, p, from, fi == len(files)-1, &st, func(b []byte) bool {
			if err := parseLine(b, &rec); err != nil {
				st.Malformed++
				return true
			}
			if !until.IsZero() && rec.TS.After(until) {
				return false
			}
			if skipSeq != 0 && rec.Seq != 0 && rec.Seq <= skipSeq {
				return true
			}
			if fresh && rec.TS.Before(since) {
				return true
			}
			st.Lines++
			fn(&rec)
			cp.Seq, cp.TS = rec.Seq, rec.TS
			return true
		})
		if err != nil {
			return cp, st, err
		}
		switch {
		case name != cp.File:
			cp.File, cp.Offset, cp.Tail = name, res.next, res.tail
		case res.next != from:
			cp.Offset, cp.Tail = res.next, mergeTail(cp.Tail, from, res.tail)
		default:
			cp.Offset, cp.Tail = from, mergeTail(cp.Tail, from, nil)
		}
		if res.stop {
			break
		}
	}
	return cp, st, nil
}

// resumeAt says where to go on reading file p after cp: at cp.Offset if the
// line the checkpoint ends with is still there, else after the newest of
// its marked lines still in place (whole is false when none is).
func resumeAt(p string, cp Checkpoint) (from int64, whole bool) {
	if cp.Offset == 0 {
		return 0, true
	}
	f, err := os.Open(p)
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
func lineAt(f *os.File, start, end int64) uint64 {
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

// readFile reads the whole lines of one day file from offset from, calling
// line with each (without its newline) until line says stop. A last
// unfinished line of the newest file is left for the next run; one in an
// older file (cut short by a crash, never to be finished) is malformed.
func readFile(ctx context.Context, p string, from int64, newest bool, st *ReadStats, line func([]byte) bool) (res fileRead, err error) {
	res.next = from
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil // pruned while we looked
	}
	if err != nil {
		return res, fmt.Errorf("open the index: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return res, fmt.Errorf("read the index %s: %w", p, err)
	}
	// The ends of the last lines taken; they are hashed once, at the end,
	// not line by line.
	const ring = tailMarks + 1 // the marked lines and the end of the one before
	var ends [ring]int64
	n := 0
	took := func(end int64) {
		ends[n%ring] = end
		n++
		res.next = end
	}
	defer func() {
		if err != nil || n == 0 {
			return
		}
		k := min(n, tailMarks)
		start := from
		if n > k {
			start = ends[(n-k-1)%ring]
		}
		for i := n - k; i < n; i++ {
			end := ends[i%ring]
			res.tail = append(res.tail, Mark{End: end, Hash: lineAt(f, start, end)})
			start = end
		}
	}()
	br := bufio.NewReaderSize(f, 256<<10)
	var long []byte // a line longer than the buffer
	skipping := false
	off := from
	for i := 0; ; i++ {
		if i%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
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
				took(off)
			}
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read the index %s: %w", p, err)
		}
		off += int64(len(chunk))
		if skipping {
			skipping = false
			st.Malformed++
			took(off)
			continue
		}
		b := chunk
		if long != nil {
			b = append(long, chunk...)
			long = nil
		}
		if !line(b[:len(b)-1]) {
			res.stop = true
			return res, nil
		}
		took(off)
	}
}

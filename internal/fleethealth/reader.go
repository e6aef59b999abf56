package fleethealth

import (
	"bufio"
	"bytes"
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

// Checkpoint is where the last run stopped reading the index: a day file,
// the byte offset after the last whole line read, and that line's seq and
// ts. It survives rotation: files are named by day, so a pruned file is
// simply before every file still there.
type Checkpoint struct {
	File   string    `json:"file"`
	Offset int64     `json:"offset"`
	Seq    uint64    `json:"seq"`
	TS     time.Time `json:"ts"`
	// Line is a hash of the line that ends at Offset, to notice a file
	// cut and rewritten below the checkpoint.
	Line uint64 `json:"line"`
}

// ReadStats counts what a read saw.
type ReadStats struct {
	Lines     int   // index lines handed on
	Malformed int   // whole lines that are not index lines, skipped
	Bytes     int64 // bytes read
	Files     int   // day files opened
}

var dayFile = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}\.jsonl$`)

// readIndex hands fn every index line after cp, in file order, up to and
// excluding the first line stamped after until (a replay as of an instant
// stops there) or a torn last line (a line being written), and returns
// where it stopped. Without a checkpoint it starts with the day file of
// since and skips lines stamped before since. Lines are read one at a
// time, so memory does not grow with the index.
func readIndex(dir string, cp Checkpoint, since, until time.Time, fn func(*Rec)) (Checkpoint, ReadStats, error) {
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
		newest := fi == len(files)-1
		var from int64
		var seenUntil time.Time
		if name == cp.File {
			from = cp.Offset
			if !endsWith(filepath.Join(dir, name), cp) {
				// Cut since: the receiver's recovery drops index lines
				// that never became durable and numbers the lines after
				// them anew. Read the file again, skipping the lines
				// stamped no later than the last one already read.
				from, seenUntil = 0, cp.TS
			}
		}
		next, last, stop, err := readFile(filepath.Join(dir, name), from, newest, &st, func(b []byte) bool {
			if err := parseLine(b, &rec); err != nil {
				st.Malformed++
				return true
			}
			if !until.IsZero() && rec.TS.After(until) {
				return false
			}
			if !seenUntil.IsZero() && !rec.TS.After(seenUntil) {
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
		if next != from || name != cp.File {
			cp.File, cp.Offset, cp.Line = name, next, last
		}
		if stop {
			break
		}
	}
	return cp, st, nil
}

// endsWith reports whether the line that ends at cp.Offset in file p is
// still the line the checkpoint was taken after.
func endsWith(p string, cp Checkpoint) bool {
	if cp.Offset == 0 {
		return true
	}
	f, err := os.Open(p)
	if err != nil {
		return true // pruned: nothing to reread
	}
	defer f.Close()
	n := min(cp.Offset, 1<<20)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, cp.Offset-n); err != nil {
		return false
	}
	line := buf
	if i := bytes.LastIndexByte(buf[:n-1], '\n'); i >= 0 {
		line = buf[i+1:]
	}
	return lineHash(line) == cp.Line
}

// lineHash identifies a line (with its newline, if any).
func lineHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// readFile reads the whole lines of one day file from offset from, calling
// line with each (without its newline) until line says stop. It returns the offset after the last line taken. A last
// unfinished line of the newest file is left for the next run; one in an
// older file (cut short by a crash, never to be finished) is malformed.
func readFile(p string, from int64, newest bool, st *ReadStats, line func([]byte) bool) (next int64, last uint64, stop bool, err error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return from, 0, false, nil // pruned while we looked
	}
	if err != nil {
		return from, 0, false, fmt.Errorf("open the index: %w", err)
	}
	defer f.Close()
	st.Files++
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return from, 0, false, fmt.Errorf("read the index %s: %w", p, err)
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var long []byte // a line longer than the buffer
	off := from
	lastStart := int64(-1) // where the last line taken starts
	// The checkpoint identifies the last line taken by a hash: taken once,
	// at the end, not for every line.
	defer func() {
		if lastStart >= 0 && err == nil {
			buf := make([]byte, next-lastStart)
			if _, rerr := f.ReadAt(buf, lastStart); rerr == nil {
				last = lineHash(buf)
			}
		}
	}()
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, chunk...)
			continue
		}
		if err == io.EOF {
			if len(chunk)+len(long) > 0 && !newest {
				st.Malformed++
				b := append(long, chunk...)
				lastStart = off
				off += int64(len(b))
				st.Bytes += int64(len(b))
			}
			return off, last, false, nil
		}
		if err != nil {
			return off, last, false, fmt.Errorf("read the index %s: %w", p, err)
		}
		b := chunk
		if long != nil {
			b = append(long, chunk...)
			long = nil
		}
		if !line(b[:len(b)-1]) {
			return off, last, true, nil
		}
		lastStart = off
		off += int64(len(b))
		st.Bytes += int64(len(b))
	}
}

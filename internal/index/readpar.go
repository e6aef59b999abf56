package index

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// A full read of the index (the detector's first run, a day or more of
// lines) is mostly parsing, and parsing one line does not depend on the
// next: readChunks reads a day file in pieces cut at line boundaries,
// parses the pieces on every core and hands the lines on in file order,
// on the caller's goroutine. What the caller sees — the lines, their
// order, the malformed ones, where reading stops and the checkpoint — is
// what readLines gives; only the parsing moved.

// parTune sizes the parallel read. The zero value is the defaults; tests
// shrink the pieces to put line boundaries everywhere.
type parTune struct {
	chunk   int   // bytes read per piece
	min     int64 // the least bytes to read for the parallel path
	workers int   // parsers
	// readEarly parses the lines stamped before a first read's since
	// too, as before they were skipped unread (tests compare).
	readEarly bool
}

const (
	defaultChunk = 256 << 10
	// defaultParMin keeps the timer's incremental run (a few MB) on the
	// sequential path: goroutines and pieces would cost it more than
	// they save.
	defaultParMin = 16 << 20
)

func (t parTune) parallel(n int64) bool {
	if t.workers == 0 && runtime.GOMAXPROCS(0) < 2 {
		return false
	}
	if t.min == 0 {
		return n >= defaultParMin
	}
	return n >= t.min
}

func (t parTune) size() (chunk, workers int) {
	chunk, workers = t.chunk, t.workers
	if chunk <= 0 {
		chunk = defaultChunk
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return chunk, workers
}

// piece is a run of whole lines of a day file, and the lines parsed from
// it. A line too long to parse, or an older file's last line cut short,
// is not in data: lead and trail give the end of such a line before or
// after data's lines (0: none).
type piece struct {
	data  []byte
	base  int64 // the file offset of data[0]
	lead  int64
	trail int64
	err   error // reading failed here: the last piece

	lines []Line     // data's lines, parsed
	ends  []int64    // the offset after each line
	fate  []lineFate // what became of each line
	ready chan struct{}
	buf   []byte // data's storage, kept for the next use
}

// parse splits p.data into lines and parses each, as readLines does.
func (p *piece) parse(seen *strs, early []byte) {
	p.lines, p.ends, p.fate = p.lines[:0], p.ends[:0], p.fate[:0]
	b := p.data
	off := p.base
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		off += int64(i + 1)
		p.lines = append(p.lines, Line{})
		l := &p.lines[len(p.lines)-1]
		fate := lineParsed
		switch {
		case i+1 > longLine:
			fate = lineBad
		case stampedBefore(b[:i], early):
			fate = lineEarly
		case parseLine(b[:i], l, seen) != nil:
			fate = lineBad
		}
		p.ends = append(p.ends, off)
		p.fate = append(p.fate, fate)
		b = b[i+1:]
	}
}

// readChunks is readFile's parallel path. One goroutine reads pieces,
// workers parse them, and the caller takes them in order; a fixed number
// of pieces circulates, so memory is bounded whatever the file's size.
// When the caller stops (line says stop, ctx is done, or reading fails)
// every goroutine has ended before readChunks returns.
func readChunks(ctx context.Context, f io.ReaderAt, p string, from int64, newest bool, st *ReadStats, tune parTune, early []byte, tk *taken, line lineFunc) error {
	chunk, workers := tune.size()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: deferred calls run last-in first-out
	defer cancel()
	inflight := workers + 2 // one being handed on, one being read, the rest parsed
	free := make(chan *piece, inflight)
	for range inflight {
		free <- &piece{}
	}
	work := make(chan *piece, inflight)  // to the parsers
	order := make(chan *piece, inflight) // to the caller, in file order
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(order)
		cut(ctx, f, p, from, newest, chunk, free, work, order)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := &strs{} // a worker's own: strs is not safe for concurrent use
			for pc := range work {
				if ctx.Err() == nil {
					pc.parse(seen, early)
				}
				close(pc.ready)
			}
		}()
	}
	for pc := range order {
		select {
		case <-pc.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return err // parsing was cut short
		}
		if pc.err != nil {
			return pc.err
		}
		if pc.lead != 0 {
			st.Malformed++
			tk.took(pc.lead)
		}
		for i := range pc.lines {
			l := &pc.lines[i]
			switch pc.fate[i] {
			case lineEarly:
				tk.took(pc.ends[i])
				continue
			case lineBad:
				l = nil
			}
			if !line(l) {
				tk.res.stop = true
				return nil
			}
			tk.took(pc.ends[i])
		}
		if pc.trail != 0 {
			st.Malformed++
			tk.took(pc.trail)
		}
		free <- pc // never blocks: free holds every piece
	}
	return ctx.Err()
}

// cut reads f from offset from in pieces of whole lines and sends each to
// order and to work. The start of a line that does not end in the bytes
// read so far is carried into the next piece; a line longer than
// longLine is skipped (a lead or trail, not data) without being kept.
func cut(ctx context.Context, f io.ReaderAt, p string, from int64, newest bool, chunk int, free, work, order chan *piece) {
	off := from      // the next byte to read
	var carry []byte // the start of an unfinished line, ending at off
	skipping := false
	var pc *piece
	send := func() {
		pc.ready = make(chan struct{})
		order <- pc // neither send blocks: each holds every piece
		work <- pc
		pc = nil
	}
	for ctx.Err() == nil {
		if pc == nil {
			select {
			case pc = <-free:
			case <-ctx.Done():
				return
			}
			*pc = piece{lines: pc.lines, ends: pc.ends, fate: pc.fate, buf: pc.buf}
		}
		buf := append(pc.buf[:0], carry...)
		base := off - int64(len(carry))
		have := len(buf)
		// A line longer than a piece is carried on; reading at least as
		// much again as is carried keeps the copying linear.
		want := max(chunk, have)
		if cap(buf) < have+want {
			nb := make([]byte, have, have+want+want/8) // room for the next carry too
			copy(nb, buf)
			buf = nb
		}
		n, err := f.ReadAt(buf[have:have+want], off)
		buf = buf[:have+n]
		pc.buf = buf
		off += int64(n)
		eof := err == io.EOF || n == 0 && err == nil
		if err != nil && err != io.EOF {
			pc.err = fmt.Errorf("read the index %s: %w", p, err)
			pc.data = nil
			pc.ready = make(chan struct{})
			close(pc.ready)
			order <- pc
			return
		}
		data := buf
		if skipping {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				if eof {
					if !newest {
						pc.trail = off
						send()
					}
					return
				}
				continue // still in the long line: nothing kept
			}
			skipping = false
			pc.lead = base + int64(i+1)
			data, base = data[i+1:], base+int64(i+1)
		}
		whole := bytes.LastIndexByte(data, '\n') + 1
		pc.data, pc.base = data[:whole], base
		rest := data[whole:]
		carry = carry[:0]
		switch {
		case eof:
			if len(rest) > 0 && !newest {
				pc.trail = off
			}
		case len(rest) >= longLine:
			skipping = true // already longer than any line parsed
		default:
			carry = append(carry, rest...)
		}
		if len(pc.data) > 0 || pc.lead != 0 || pc.trail != 0 {
			send()
		}
		if eof {
			return
		}
	}
}

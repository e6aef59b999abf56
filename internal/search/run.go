package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/store"
)

// Source is the storage a search reads: the streams of either backend.
type Source interface {
	HostNames(ctx context.Context) ([]string, error)
	List(ctx context.Context, host string) ([]store.Info, error)
	OffsetAt(ctx context.Context, key store.Key, t time.Time) (int64, error)
	Read(ctx context.Context, key store.Key, offset int64, limit int) ([]byte, store.Info, error)
	// TimeAt is when the byte at offset was received (zero if unknown),
	// and the offset up to which that time holds (its append's end).
	TimeAt(ctx context.Context, key store.Key, offset int64) (time.Time, int64, error)
}

// Filterer is a Source that keeps block filters (FilterOf) beside the
// data: the blocks of key overlapping [from, to), in offset order; where
// it has none, the search scans.
type Filterer interface {
	Filters(ctx context.Context, key store.Key, from, to int64) ([]store.Filter, error)
}

// HostFilterer is a Filterer that also gives the filters of all of a
// host's streams at once, by stream name, if there are at most limit of
// them (ok false: more, ask stream by stream). A store that answers over
// the network pays a round trip per question: one a host rather than one
// a stream is what a search of a fleet's many small streams costs.
type HostFilterer interface {
	HostFilters(ctx context.Context, host string, limit int) (flts map[string][]store.Filter, ok bool, err error)
}

// IntoReader is a Source that reads into the caller's buffer: a search's
// worker then reuses one block's buffer instead of allocating one a block.
type IntoReader interface {
	ReadInto(ctx context.Context, key store.Key, offset int64, buf []byte) (int, store.Info, error)
}

// BlockSize is how much of a stream one read takes.
const BlockSize = 1 << 20

// Request is one search over the fleet.
type Request struct {
	Matcher *Matcher
	Hosts   string    // a path.Match glob of host names; "" is every host
	Streams string    // a glob of stream names; "" is every stream
	Since   time.Time // zero: from each stream's start
	Until   time.Time // zero: to each stream's end
	Limit   int       // most hits; 0 is no limit
	Count   bool      // count hits, do not send them
	Cursor  string    // continue after the search that returned it
	// Share paces the scan to at most this share of one CPU (0 or 1:
	// unpaced), all workers together: after each block a worker scans,
	// it rests as long as the search is over its share (see pacer), so
	// that ingest on the same machine keeps its throughput. Skipped
	// blocks cost nothing.
	// Busy, if set, says whether ingest is under way: the scan rests only
	// then, and runs at full speed on an idle receiver.
	Share float64
	Busy  func() bool
	// Workers is how many streams are scanned at once (0: one per CPU,
	// at most maxWorkers).
	Workers int
}

// DefaultShare is the receiver's pace for a search: a quarter of a CPU.
// Measured in bench/README.md ("Search"): unpaced, searches back to back
// halved a 2-core receiver's ingest.
const DefaultShare = 0.25

// Result is one hit, as the search reports it.
type Result struct {
	Host   string    `json:"host"`
	Stream string    `json:"stream"`
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"`
	Line   string    `json:"line"`
	Cut    bool      `json:"cut,omitempty"`
}

// Summary says what a search did.
type Summary struct {
	Hits          int64  `json:"hits"`
	Streams       int    `json:"streams"`
	BytesScanned  int64  `json:"bytes_scanned"`
	BytesSkipped  int64  `json:"bytes_skipped"`
	BlocksScanned int64  `json:"blocks_scanned"`
	BlocksSkipped int64  `json:"blocks_skipped"`
	LinesCut      int64  `json:"lines_cut"` // matching lines longer than MaxLine, matched on their start
	Limited       bool   `json:"limited"`   // the limit or the deadline ended it early
	Cursor        string `json:"cursor,omitempty"`
}

// ErrBadCursor is a cursor this receiver did not make.
var ErrBadCursor = errors.New("the cursor is not one a search returned; continue with the cursor of the last summary, or start again without one")

// cursor is where a search stopped: the next byte to search, and whether
// a line starts there or the line there was reported already (or began
// before).
type cursor struct {
	Host      string `json:"h"`
	Stream    string `json:"s"`
	Offset    int64  `json:"o"`
	LineStart bool   `json:"l,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	// No stream: from the host's first stream on (a host whose streams
	// could not be listed).
	if err != nil || c.Host == "" || c.Offset < 0 || c.Stream == "" && (c.Offset != 0 || !c.LineStart) {
		return cursor{}, ErrBadCursor
	}
	return c, nil
}

// CheckCursor says whether c is a cursor Run made ("" is none).
func CheckCursor(c string) error {
	if c == "" {
		return nil
	}
	_, err := parseCursor(c)
	return err
}

// CheckGlob says whether g is a glob Run takes.
func CheckGlob(g string) error {
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("the glob %q is malformed (use * and ? and [a-z] as a shell does)", g)
	}
	return nil
}

// Run searches src, host by host and stream by stream in name order,
// calling emit for each hit (not with Count), and returns what it did.
// Several streams are scanned at once (Request.Workers), but hits reach
// emit in order, one goroutine calling it: the caller's. Memory is a
// block, a line and a few batches of hits per worker, whatever it
// searches. When ctx ends it returns what it did so far, Limited, with a
// cursor to continue from, and ctx's error.
func Run(ctx context.Context, src Source, req Request, emit func(Result) error) (Summary, error) {
	var sum Summary
	var from cursor
	if req.Cursor != "" {
		c, err := parseCursor(req.Cursor)
		if err != nil {
			return sum, err
		}
		from = c
	}
	hosts, err := src.HostNames(ctx)
	if err != nil {
		return sum, fmt.Errorf("list the hosts: %w", err)
	}
	slices.Sort(hosts)
	workers := req.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), maxWorkers)
	}
	pace := newPacer(req.Share, req.Busy)
	// Workers stop on wctx, which ends with ctx and when this returns;
	// quit tells them that nobody takes their hits any more.
	wctx, cancel := context.WithCancel(ctx)
	quit := make(chan struct{})
	// Run returns once its goroutines have: a search holds nothing (a
	// receiver's search slot, the store) after it ends. They stop within
	// a block of quit.
	var wg sync.WaitGroup
	defer func() {
		close(quit)
		cancel()
		wg.Wait()
	}()
	// The producer lists the streams in order and hands each to a worker
	// and, in the same order, to this goroutine, which takes each job's
	// hits in turn. A worker runs ahead by at most its job's batches.
	pending := make(chan *job, workers)
	work := make(chan *job)
	hf, _ := src.(HostFilterer)
	if _, ok := src.(Filterer); !ok || !req.Matcher.Skips() {
		hf = nil // no filters used: none to ask for
	}
	wg.Go(func() {
		defer close(pending)
		defer close(work)
		// send queues j for this goroutine and then for a worker; once
		// wctx ends, j is not run and says so (its cursor is its start).
		send := func(j *job) bool {
			select {
			case pending <- j:
			case <-quit:
				return false
			}
			if j.err == nil {
				select {
				case work <- j:
					return true
				case <-wctx.Done():
					j.err = wctx.Err()
				}
			}
			close(j.hits)
			return false
		}
		// Hosts are listed listAhead at once, in order: a store that
		// answers over the network takes a round trip or two a host.
		// One host's list is taken while the buffer holds the others'.
		lists := make(chan chan hostList, listAhead-1)
		wg.Go(func() {
			defer close(lists)
			for _, host := range hosts {
				if host < from.Host || !globMatch(req.Hosts, host) {
					continue
				}
				c := make(chan hostList, 1)
				select {
				case lists <- c:
				case <-quit:
					return
				}
				wg.Go(func() { c <- listHost(wctx, src, hf, host) })
			}
		})
		for c := range lists {
			l := <-c
			host := l.host
			if l.err != nil {
				// The next search starts at this host (a cursor without a
				// stream), or where this one did if it started here.
				j := &job{key: store.Key{Host: host}, hits: make(chan batch), err: l.err}
				if host == from.Host {
					j.key.Stream, j.resume = from.Stream, &from
				}
				send(j)
				return
			}
			for _, info := range l.infos {
				if host == from.Host && info.Stream < from.Stream || !globMatch(req.Streams, info.Stream) {
					continue
				}
				j := &job{key: store.Key{Host: host, Stream: info.Stream}, info: info, hits: make(chan batch, batchesAhead), quit: quit}
				if l.flts != nil {
					j.flts, j.fltsKnown = l.flts[info.Stream], true
				}
				if host == from.Host && info.Stream == from.Stream {
					j.resume = &from
				}
				if !send(j) {
					return
				}
			}
		}
	})
	for range workers {
		wg.Go(func() {
			var buf []byte // the worker's block, if src reads into it
			if _, ok := src.(IntoReader); ok {
				buf = make([]byte, BlockSize+1)
			}
			for j := range work {
				j.stop, j.err = runStream(wctx, src, req, j, buf, pace)
				close(j.hits)
			}
		})
	}
	// addScan adds what a job's scan did to sum.
	addScan := func(js Summary) {
		sum.Streams += js.Streams
		sum.BytesScanned += js.BytesScanned
		sum.BytesSkipped += js.BytesSkipped
		sum.BlocksScanned += js.BlocksScanned
		sum.BlocksSkipped += js.BlocksSkipped
	}
	for j := range pending {
		for b := range j.hits {
			sum.Hits += b.n
			sum.LinesCut += b.cut
			for _, r := range b.hits {
				if req.Limit > 0 && sum.Hits >= int64(req.Limit) {
					// The hit over the limit is where the next search starts.
					sum.Limited = true
					sum.Cursor = cursor{Host: r.Host, Stream: r.Stream, Offset: r.Offset, LineStart: true}.encode()
					addScan(b.scan)
					return sum, nil
				}
				sum.Hits++
				if r.Cut {
					sum.LinesCut++
				}
				if req.Count {
					continue
				}
				if err := emit(r); err != nil {
					addScan(b.scan)
					return sum, err
				}
			}
		}
		addScan(j.sum)
		if j.err != nil && j.stop == nil {
			// Ended before its first byte (the caller's deadline, or
			// storage failing to list or place it): the next search
			// starts it.
			j.stop = &cursor{LineStart: true}
			if j.resume != nil {
				// A copy: the producer still reads the one it was given.
				c := *j.resume
				j.stop = &c
			}
		}
		if j.stop != nil {
			sum.Limited = true
			j.stop.Host, j.stop.Stream = j.key.Host, j.key.Stream
			sum.Cursor = j.stop.encode()
		}
		if j.err != nil || j.stop != nil {
			return sum, j.err
		}
	}
	return sum, nil
}

// hostList is a host's streams and, if known, their filters.
type hostList struct {
	host  string
	infos []store.Info
	flts  map[string][]store.Filter
	err   error
}

// listHost lists host's streams and, if hf is not nil, asks for their
// filters in one question: if the host has few (else, or failing, as
// they are advisory, each stream's are asked for a page at a time).
func listHost(ctx context.Context, src Source, hf HostFilterer, host string) hostList {
	l := hostList{host: host}
	if l.infos, l.err = src.List(ctx, host); l.err != nil {
		l.err = fmt.Errorf("list %s's streams: %w", host, l.err)
		return l
	}
	// In byte order, as cursors compare names: a database may list them
	// in its collation's.
	slices.SortFunc(l.infos, func(a, b store.Info) int { return strings.Compare(a.Stream, b.Stream) })
	if hf != nil {
		if m, ok, err := hf.HostFilters(ctx, host, hostFilters); err == nil && ok {
			l.flts = m
		}
	}
	return l
}

// listAhead is how many hosts a search lists at once.
const listAhead = 5

// errQuit ends a worker whose caller returned.
var errQuit = errors.New("the search ended")

// maxWorkers bounds the streams one search scans at once: its memory
// grows with them, and two cores already read faster than a disk.
const maxWorkers = 4

// batchesAhead is how many batches of hits a worker holds for the caller
// before it waits: what a search buffers per worker.
const batchesAhead = 2

// batchBytes and batchHits end a batch of hits. A worker holds its block
// (1 MiB), the batch it fills and batchesAhead more: about 1.5 MiB, so
// that maxWorkers of them stay within the 8 MiB a search may take.
const (
	batchBytes = 128 << 10
	batchHits  = 512
)

// hostFilters is the most filters a search takes of a host at once
// (HostFilterer): with the hosts listed ahead and the jobs queued for the
// workers, a search holds those of a few hosts, within its memory even
// where they are the local store's 1 MiB blocks' (about 10 KiB each).
const hostFilters = 64

// filterPage is how much of a stream a search asks filters for at once
// (64 filters of the local store's 1 MiB blocks, 256 of pgs3's), so that
// how far back a stream goes does not bound what a search holds.
const filterPage = 64 << 20

// job is one stream to search, and what searching it found.
type job struct {
	key    store.Key
	info   store.Info
	resume *cursor
	// flts are the stream's filters, if fltsKnown (HostFilterer).
	flts      []store.Filter
	fltsKnown bool
	hits      chan batch    // closed once stop, err and sum are set
	quit      chan struct{} // closed when nobody takes hits any more
	sum       Summary       // what the stream's scan did (no hits)
	stop      *cursor
	err       error
}

// batch is a run of one stream's hits, in offset order. n and cut count
// hits not sent (counted-only searches without a limit). scan is what the
// stream's scan had done when it was sent, for a caller that stops in it.
type batch struct {
	hits   []Result
	n, cut int64
	scan   Summary
}

// runStream searches one stream from resume (or the window's start),
// sending its hits to j.hits, and returns where it stopped early (nil: it
// did not). buf, if not nil, is the worker's block: BlockSize+1 bytes.
func runStream(ctx context.Context, src Source, req Request, j *job, buf []byte, pace *pacer) (*cursor, error) {
	key, info, resume, sum := j.key, j.info, j.resume, &j.sum
	lo, hi := info.Start, info.Length
	if !req.Since.IsZero() {
		at, err := src.OffsetAt(ctx, key, req.Since)
		if err != nil {
			return nil, fmt.Errorf("find %s's offset at %s: %w", key, req.Since.Format(time.RFC3339), err)
		}
		lo = max(lo, at)
	}
	if !req.Until.IsZero() {
		at, err := src.OffsetAt(ctx, key, req.Until)
		if err != nil {
			return nil, fmt.Errorf("find %s's offset at %s: %w", key, req.Until.Format(time.RFC3339), err)
		}
		hi = min(hi, at)
	}
	// A window starts at an append, which may begin mid-line: whether a
	// line starts there is read with the first block (checkPrev).
	lineStart, checkPrev := lo == 0, lo > 0
	if resume != nil && resume.Offset >= lo {
		lo, lineStart, checkPrev = resume.Offset, resume.LineStart, false
	}
	if lo >= hi {
		return nil, nil
	}
	sum.Streams++
	// Only the count is wanted: no hit need travel.
	countOnly := req.Count && req.Limit <= 0
	var b batch
	var bBytes int
	var waited time.Duration // in the block under way, for the caller to take hits
	flush := func() error {
		if len(b.hits) == 0 && b.n == 0 {
			return nil
		}
		b.scan = *sum
		// Not on ctx: the hits before a cursor must reach the caller.
		select {
		case j.hits <- b:
		default:
			t := time.Now()
			select {
			case j.hits <- b:
			case <-j.quit:
				return errQuit
			}
			waited += time.Since(t)
		}
		b, bBytes = batch{}, 0
		return nil
	}
	// The time of the append holding [tFrom, tTo), the last looked up.
	var tAt time.Time
	var tFrom, tTo int64
	// The hit whose time could not be found: the scan stopped inside a
	// chunk, where the scanner cannot say where to resume, and the hits
	// before it are in the batch.
	var failed *cursor
	onHit := func(h Hit) error {
		if countOnly {
			b.n++
			if h.Cut {
				b.cut++
			}
			return nil
		}
		r := Result{Host: key.Host, Stream: key.Stream, Offset: h.Offset, Cut: h.Cut}
		if !req.Count {
			r.Line = string(h.Line)
			if h.Offset < tFrom || h.Offset >= tTo {
				// Hits come in offset order: one look-up per append with hits.
				t, end, err := src.TimeAt(ctx, key, h.Offset)
				if err != nil {
					failed = &cursor{Offset: h.Offset, LineStart: true}
					return fmt.Errorf("find when %s's byte %d came: %w", key, h.Offset, err)
				}
				tAt, tFrom, tTo = t, h.Offset, end
			}
			r.Time = tAt
		}
		b.hits = append(b.hits, r)
		bBytes += len(r.Line)
		if bBytes >= batchBytes || len(b.hits) >= batchHits {
			return flush()
		}
		return nil
	}
	pl := &planner{m: req.Matcher, hi: hi, known: hi}
	if fr, ok := src.(Filterer); ok && req.Matcher.Skips() {
		if j.fltsKnown {
			pl.flts = j.flts
			j.flts = nil // the planner lets go of those it passes
		} else {
			pl.known = lo
			pl.fetch = func(from, to int64) ([]store.Filter, error) { return fr.Filters(ctx, key, from, to) }
		}
	}
	sc := NewScanner(req.Matcher, onHit)
	sc.Counting = countOnly
	sc.Begin(lo, lineStart)
	// Where the scan stopped, after sending the hits before it.
	off := lo
	stopped := func(err error) (*cursor, error) {
		at, ls := sc.Resume()
		if checkPrev && !ls && at == off && at > 0 {
			// Not read yet whether a line starts at off (a window's
			// start): from the byte before, the next search reads it.
			at--
		}
		if failed != nil {
			at, ls = failed.Offset, failed.LineStart
		}
		if ferr := flush(); ferr != nil && err == nil {
			err = ferr
		}
		return &cursor{Offset: at, LineStart: ls}, err
	}
	for off < hi {
		if err := ctx.Err(); err != nil {
			return stopped(err)
		}
		end, skip, edge := pl.next(off)
		if skip {
			sum.BlocksSkipped++
			sum.BytesSkipped += end - off
			// The line at the next block read may be whole: after a
			// skipped block, as at a window's start, the byte before says.
			// It was not in the skipped block's filter if that was built
			// before the line came (a filter takes in only what followed
			// its block then). The filter may know the byte: one read
			// less, on S3 a GET. Either way the line under way overlaps
			// the block and does not match (its filter holds it whole):
			// it must not be matched as it stood, should the window end
			// here (Flush).
			off, checkPrev = end, edge == store.EdgeUnknown
			sc.Begin(off, edge == store.EdgeLineEnds)
			continue
		}
		began := time.Now()
		waited = 0
		from := off
		if checkPrev {
			from = off - 1 // read the byte before too
		}
		var data []byte
		var info store.Info
		var err error
		if ir, ok := src.(IntoReader); ok && buf != nil {
			var n int
			n, info, err = ir.ReadInto(ctx, key, from, buf[:end-from])
			data = buf[:n]
		} else {
			data, info, err = src.Read(ctx, key, from, int(end-from))
		}
		if err != nil {
			return stopped(fmt.Errorf("read %s at %d: %w", key, from, err))
		}
		switch at := max(from, info.Start); {
		case at > off:
			// Retention took the bytes at off meanwhile: the data begins
			// at the stream's new start. The line under way lost its end:
			// dropped, as at a gap, even when no byte of the window is
			// left to feed (Flush would match the part read).
			off = at
			sc.Begin(off, false)
			if off >= hi {
				data = nil
			} else if int64(len(data)) > hi-off {
				data = data[:hi-off] // never past the window
			}
		case checkPrev && len(data) > 0 && at == from:
			sc.Begin(off, data[0] == '\n')
			data = data[1:]
		}
		checkPrev = false
		if len(data) == 0 {
			break // retention took it meanwhile
		}
		sum.BlocksScanned++
		sum.BytesScanned += int64(len(data))
		if err := sc.Feed(off, data); err != nil {
			// Only a hit's time not found ends a Feed (and the caller
			// going): the cursor is at that hit.
			return stopped(err)
		}
		off += int64(len(data))
		// The time it scanned, not the time it waited for the caller: a
		// worker ahead of it waits for the streams before.
		if err := pace.scanned(ctx, time.Since(began)-waited); err != nil {
			return stopped(err)
		}
	}
	if err := sc.Flush(); err != nil {
		return stopped(err)
	}
	return nil, flush()
}

func globMatch(glob, name string) bool {
	if glob == "" {
		return true
	}
	ok, _ := path.Match(glob, name)
	return ok
}

// planner cuts a stream's window into the blocks a search reads or skips.
type planner struct {
	m     *Matcher
	flts  []store.Filter // the filters not yet passed, in offset order
	holds []int8         // flts[i]'s verdict, once parsed: 1 may hold the words, -1 does not
	hi    int64
	// known is how far flts is all the filters there are; fetch, if not
	// nil, gives those of [from, to) (an error: there are none).
	known int64
	fetch func(from, to int64) ([]store.Filter, error)
}

// next says where the block at off ends and whether its filters let the
// search skip it, and if so whether a line starts at its end, if the
// filter knows. A block read runs over filters that may hold the words
// and bytes without any, up to BlockSize: a store may keep its filters
// finer than that.
func (p *planner) next(off int64) (end int64, skip bool, edge store.Edge) {
	limit := min(off+BlockSize, p.hi)
	if p.fetch != nil && p.known < limit {
		to := min(p.hi, off+filterPage)
		flts, err := p.fetch(off, to)
		if err != nil {
			flts = nil // advisory: scan these
		}
		p.flts, p.holds, p.known = flts, nil, to
	}
	for len(p.flts) > 0 && p.flts[0].To <= off {
		p.flts = p.flts[1:]
		if len(p.holds) > 0 {
			p.holds = p.holds[1:]
		}
	}
	if f := p.flts; len(f) > 0 && f[0].From <= off && !p.mayHold(0) {
		if f[0].To > p.hi {
			return p.hi, true, store.EdgeUnknown // the window ends first
		}
		return f[0].To, true, f[0].Edge
	}
	end = off
	for i := range p.flts {
		f := p.flts[i]
		if f.To <= end {
			continue
		}
		if f.From > end {
			end = f.From // bytes without a filter: read them
		}
		if end >= limit || !p.mayHold(i) {
			break
		}
		end = f.To
	}
	if len(p.flts) == 0 || end >= p.flts[len(p.flts)-1].To {
		end = limit // past the last filter: bytes without any
	}
	return min(end, limit), false, store.EdgeUnknown
}

// mayHold says whether flts[i] may hold the words (a filter that does not
// parse may).
func (p *planner) mayHold(i int) bool {
	if len(p.holds) != len(p.flts) {
		p.holds = make([]int8, len(p.flts))
	}
	if p.holds[i] == 0 {
		p.holds[i] = 1
		if pf, err := ParseFilter(p.flts[i].Data); err == nil && !pf.MayHold(p.m.Tokens()) {
			p.holds[i] = -1
		}
	}
	return p.holds[i] > 0
}

package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
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
	// unpaced): after each block it scans, it rests, so that ingest on
	// the same machine keeps its throughput. Skipped blocks cost nothing.
	// Busy, if set, says whether ingest is under way: the scan rests only
	// then, and runs at full speed on an idle receiver.
	Share float64
	Busy  func() bool
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
	if err != nil || c.Host == "" || c.Stream == "" || c.Offset < 0 {
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
// Memory is one block and one line, whatever it searches. When ctx ends
// it returns what it did so far, Limited, with a cursor to continue from,
// and ctx's error.
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
	for _, host := range hosts {
		if host < from.Host || !globMatch(req.Hosts, host) {
			continue
		}
		infos, err := src.List(ctx, host)
		if err != nil {
			return sum, fmt.Errorf("list %s's streams: %w", host, err)
		}
		for _, info := range infos {
			if host == from.Host && info.Stream < from.Stream || !globMatch(req.Streams, info.Stream) {
				continue
			}
			key := store.Key{Host: host, Stream: info.Stream}
			var resume *cursor
			if host == from.Host && info.Stream == from.Stream {
				resume = &from
			}
			stop, err := runStream(ctx, src, req, key, info, resume, &sum, emit)
			if stop != nil {
				sum.Limited = true
				stop.Host, stop.Stream = host, info.Stream
				sum.Cursor = stop.encode()
			}
			if err != nil || stop != nil {
				return sum, err
			}
		}
	}
	return sum, nil
}

// errLimit stops a stream's scan at the limit.
var errLimit = errors.New("limit reached")

// runStream searches one stream from resume (or the window's start) and
// returns where it stopped early (nil: it did not).
func runStream(ctx context.Context, src Source, req Request, key store.Key, info store.Info, resume *cursor, sum *Summary, emit func(Result) error) (*cursor, error) {
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
	var last Hit // the last hit sent, for a cursor after it
	// The time of the append holding [tFrom, tTo), the last looked up.
	var tAt time.Time
	var tFrom, tTo int64
	onHit := func(h Hit) error {
		if req.Limit > 0 && sum.Hits >= int64(req.Limit) {
			last = h
			return errLimit
		}
		sum.Hits++
		if h.Cut {
			sum.LinesCut++
		}
		if req.Count {
			return nil
		}
		r := Result{Host: key.Host, Stream: key.Stream, Offset: h.Offset, Line: string(h.Line), Cut: h.Cut}
		if h.Offset < tFrom || h.Offset >= tTo {
			// Hits come in offset order: one look-up per append with hits.
			t, end, err := src.TimeAt(ctx, key, h.Offset)
			if err != nil {
				return fmt.Errorf("find when %s's byte %d came: %w", key, h.Offset, err)
			}
			tAt, tFrom, tTo = t, h.Offset, end
		}
		r.Time = tAt
		return emit(r)
	}
	var flts []store.Filter
	if fr, ok := src.(Filterer); ok && req.Matcher.Skips() {
		var err error
		if flts, err = fr.Filters(ctx, key, lo, hi); err != nil {
			flts = nil // advisory: scan it all
		}
	}
	pl := &planner{m: req.Matcher, flts: flts, hi: hi}
	sc := NewScanner(req.Matcher, onHit)
	sc.Begin(lo, lineStart)
	stopped := func() *cursor {
		off, ls := sc.Resume()
		return &cursor{Offset: off, LineStart: ls}
	}
	for off := lo; off < hi; {
		if err := ctx.Err(); err != nil {
			return stopped(), err
		}
		end, skip := pl.next(off)
		if skip {
			sum.BlocksSkipped++
			sum.BytesSkipped += end - off
			// The line at the next block read may be whole: after a
			// skipped block, as at a window's start, the byte before says.
			// It was not in the skipped block's filter if that was built
			// before the line came (a filter takes in only what followed
			// its block then).
			off, checkPrev = end, true
			continue
		}
		began := time.Now()
		from := off
		if checkPrev {
			from = off - 1 // read the byte before too
		}
		data, info, err := src.Read(ctx, key, from, int(end-from))
		if err != nil {
			return stopped(), fmt.Errorf("read %s at %d: %w", key, from, err)
		}
		if checkPrev && len(data) > 0 && info.Start <= from {
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
			if errors.Is(err, errLimit) {
				// The hit over the limit is where the next search starts.
				return &cursor{Offset: last.Offset, LineStart: true}, nil
			}
			return stopped(), err
		}
		off += int64(len(data))
		if req.Share > 0 && req.Share < 1 && (req.Busy == nil || req.Busy()) {
			rest := time.Duration(float64(time.Since(began)) * (1/req.Share - 1))
			t := time.NewTimer(rest)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return stopped(), ctx.Err()
			}
		}
	}
	err := sc.Flush()
	if errors.Is(err, errLimit) {
		return &cursor{Offset: last.Offset, LineStart: true}, nil
	}
	return nil, err
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
	m    *Matcher
	flts []store.Filter // the filters not yet passed, in offset order
	hi   int64
}

// next says where the block at off ends and whether its filter lets the
// search skip it.
func (p *planner) next(off int64) (end int64, skip bool) {
	end = min(off+BlockSize, p.hi)
	for len(p.flts) > 0 && p.flts[0].To <= off {
		p.flts = p.flts[1:]
	}
	if len(p.flts) > 0 && p.flts[0].From <= off {
		f := p.flts[0]
		if pf, err := ParseFilter(f.Data); err == nil && !pf.MayHold(p.m.Tokens()) {
			return min(f.To, p.hi), true
		}
		return min(end, f.To), false // scan the block: its filter may hold the words
	}
	if len(p.flts) > 0 {
		end = min(end, p.flts[0].From) // up to the next block with a filter
	}
	return end, false
}

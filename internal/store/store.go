// Package store keeps the fleet's log streams: append-only byte sequences
// with logical offsets that are never reused.
//
// Every stream's bytes go into one shared, segmented log (seg-*.log, each a
// long-lived append-only file), so one group commit (package groupsync) makes
// many hosts' appends durable with one fdatasync. A sealed segment gets an
// index file (seg-*.idx) that maps its streams' offsets and times to
// positions; memory holds one span per stream and segment, plus one extent
// per append only for segments not yet indexed. Start-up reads the index
// files' tables and the unindexed segments whole; a torn tail left by a
// crash is recognised by its CRC and cut off. Retention drops whole oldest segments and moves each affected
// stream's start forward; streams.json, written atomically before segments are
// deleted, remembers lengths that no surviving byte holds.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

// Key names a stream: a canonical host and a stream name, both validated by
// package names before they get here.
type Key struct {
	Host   string
	Stream string
}

func (k Key) String() string { return k.Host + "/" + k.Stream }

// Gen is the file generation a PUT's bytes come from.
type Gen struct {
	ID    string // X-Cis490-Generation
	Start int64  // X-Cis490-Generation-Start
}

// Info describes a stream.
type Info struct {
	Stream   string `json:"stream"`
	Start    int64  `json:"start"`
	Length   int64  `json:"length"`
	Gen      string `json:"generation,omitempty"`
	GenStart int64  `json:"generation_start"`
	Updated  int64  `json:"-"` // unix nanoseconds of the last append
}

// Outcome of an append.
type Outcome int

// Outcomes.
const (
	Appended  Outcome = iota + 1 // new bytes are durable: 201
	Duplicate                    // every byte was already durable: 200
)

// Errors an append can return besides I/O failures.
var (
	ErrQuota  = errors.New("host quota exceeded")
	ErrFull   = errors.New("storage full")
	ErrClosed = errors.New("store closed")
)

// ConflictError is a 409: the host must resync to Length.
type ConflictError struct {
	Reason string // wire.ReasonGap, ReasonMismatch or ReasonBeforeStart
	Length int64
	Start  int64
}

func (e *ConflictError) Error() string {
	switch e.Reason {
	case wire.ReasonMismatch:
		return fmt.Sprintf("the bytes at that offset differ from the stored ones; resync to length %d", e.Length)
	case wire.ReasonBeforeStart:
		return fmt.Sprintf("that offset was dropped by retention (the stream starts at %d); resync to length %d", e.Start, e.Length)
	default:
		return fmt.Sprintf("offset does not match the stream; resync to length %d", e.Length)
	}
}

// QuotaError says which quota a host is over.
type QuotaError struct {
	Msg    string
	Reason string // wire.ReasonStreams for the stream cap; "" for bytes
	// Kind is the quota refused ("day", "total" or "streams"), Used what
	// the host had used of it and Limit the limit: the receiver puts them
	// in the refusal's index line, for the detector's over-quota.
	Kind        string
	Used, Limit int64
}

func (e *QuotaError) Error() string { return e.Msg }
func (e *QuotaError) Unwrap() error { return ErrQuota }

// Streams is the narrow interface the receiver uses, so another backend (an
// object store, a database) can take the place of the local log.
//
// Begin's Durable may be nil: the bytes were durable when it returned (a
// backend that commits before answering).
type Streams interface {
	Begin(ctx context.Context, key Key, offset int64, gen Gen, data []byte) (Begun, error)
	Read(ctx context.Context, key Key, offset int64, limit int) ([]byte, Info, error)
	Stat(ctx context.Context, key Key) (Info, bool, error)
	List(ctx context.Context, host string) ([]Info, error)
	OffsetAt(ctx context.Context, key Key, t time.Time) (int64, error)
}

// ErrNotFound is returned for a stream that does not exist.
var ErrNotFound = errors.New("no such stream")

// Options configure a Store. Zero values take the defaults.
type Options struct {
	Dir             string
	FS              vfs.FS        // default vfs.OS{}
	SegmentSize     int64         // default 64 MiB
	MaxAge          time.Duration // retention by age; 0 = keep forever
	MaxBytes        int64         // retention by total size; 0 = unlimited
	HostBytesPerDay int64         // 0 = unlimited
	HostBytesTotal  int64         // 0 = unlimited
	HostStreams     int           // most streams a host may have; 0 = unlimited
	MinFree         int64         // answer ErrFull below this much free disk
	FreeSpace       func() (int64, error)
	Now             func() time.Time
	Log             *slog.Logger
	Sync            *groupsync.Group // shared with the index; Run by the owner
	// OnJournal is called at recovery for every journal entry found, in
	// order; payload is only valid during the call.
	OnJournal func(seq uint64, payload []byte)
	// JournalSafe makes every journal entry written so far safe elsewhere
	// (the index syncs its files) and returns the last one's sequence
	// number. It runs before retention deletes segments (the number is kept
	// in streams.json) and before a sealed segment is indexed, since
	// recovery hands only unindexed segments' entries to OnJournal.
	JournalSafe func() (uint64, error)
	// BuildFilter, if set, makes the search filter of one block of a
	// stream, given up to 64 KiB of the stream before and after it
	// (search.FilterOf); each indexed segment then gets a filter file.
	BuildFilter func(before, block, after []byte) []byte
}

// Store is the local segmented-log implementation of Streams.
type Store struct {
	opt   Options
	fs    vfs.FS
	group *groupsync.Group

	mu      sync.RWMutex // guards streams, hosts, segs and active
	streams map[Key]*stream
	hosts   map[string]*hostUsage
	segs    []*segment // oldest first; the last is active
	closed  bool

	retainMu sync.Mutex // one retention run at a time
	wmu      sync.Mutex // serialises writes into the active segment
	buf      []byte

	free freeCache

	journalSeq uint64 // highest journal sequence number known durable at recovery
	fresh      bool   // no segment and no streams.json existed at Open

	idxOnce    sync.Once
	idxRunning bool
	idxStopped bool // guarded by Close's single run
	idxFinal   bool
	idxWake    chan struct{}
	idxStop    chan struct{}
	idxDone    chan struct{}
}

type hostUsage struct {
	mu    sync.Mutex
	total int64 // bytes held (length - start, summed)
	day   int64 // unix day of dayBytes
	today int64
	// appends counts today's appends, each charged AppendCost; it starts
	// again at a restart (the bytes do not: recovery counts them).
	appends int64
	// streams counts the host's streams in Store.streams; guarded by
	// Store.mu, not mu.
	streams int
}

type stream struct {
	mu       sync.Mutex
	key      Key
	start    int64
	length   int64
	gen      string
	genStart int64
	updated  int64
	// spans: one per segment holding the stream's bytes, oldest first. The
	// spans of indexed segments find their records through the segment's
	// index file; the rest (a suffix: the active segment and any sealed one
	// not yet indexed) through ext, one extent per append. Memory grows with
	// streams × segments, not with appends.
	spans    []span
	ext      []extent
	endGen   []genAt          // the generation where each span not yet indexed ended, but the last
	unsynced []unsynced       // appends not yet known durable, oldest first
	last     groupsync.Ticket // ticket of the newest append
	dropped  bool             // removed from the map: never held a byte
}

type span struct {
	off    int64 // logical offset of the stream's first byte in seg
	time   int64 // when it was appended
	seg    *segment
	onDisk bool   // its extents are in seg's index file, not in ext
	first  uint32 // its entries in that file
	count  uint32
}

type extent struct {
	off  int64 // logical offset of the first byte
	pos  int64 // file position of the first byte
	time int64
	n    int64
}

// genAt is the generation a stream had at the end of its bytes in seg.
type genAt struct {
	seg   *segment
	gen   string
	start int64
}

type unsynced struct {
	t   groupsync.Ticket
	off int64
}

var _ Streams = (*Store)(nil)

func (s *Store) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now()
	}
	return time.Now()
}

// Stat returns a stream's info for a shipper resyncing (HEAD): its length
// counts the bytes written, durable or not, since its generation must agree
// with its length (an append may have started a new one). A host told a
// length a crash then cut gets a 409 "gap" naming the real one.
func (s *Store) Stat(_ context.Context, key Key) (Info, bool, error) {
	s.mu.RLock()
	st := s.streams[key]
	s.mu.RUnlock()
	if st == nil {
		return Info{}, false, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	info := s.info(st)
	info.Length = st.length
	return info, true, nil
}

// info describes st for readers, as far as it is durable: a reader never
// sees bytes a crash could still take (and the host would then send again,
// perhaps different). The caller holds st.mu.
func (s *Store) info(st *stream) Info {
	return Info{Stream: st.key.Stream, Start: st.start, Length: s.durableLength(st), Gen: st.gen, GenStart: st.genStart, Updated: st.updated}
}

// List returns a host's streams sorted by name.
func (s *Store) List(_ context.Context, host string) ([]Info, error) {
	s.mu.RLock()
	var sts []*stream
	for k, st := range s.streams {
		if k.Host == host {
			sts = append(sts, st)
		}
	}
	s.mu.RUnlock()
	out := make([]Info, 0, len(sts))
	for _, st := range sts {
		st.mu.Lock()
		out = append(out, s.info(st))
		st.mu.Unlock()
	}
	sortInfos(out)
	return out, nil
}

// Hosts returns every host that has a stream.
func (s *Store) Hosts() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for k := range s.streams {
		if !seen[k.Host] {
			seen[k.Host] = true
			out = append(out, k.Host)
		}
	}
	return out
}

// Read returns up to limit stored bytes of key from offset. An offset below
// the start is moved up to it; the returned Info tells where the bytes begin
// (Start) and end (Length). Only durable bytes are read (see info).
func (s *Store) Read(_ context.Context, key Key, offset int64, limit int) ([]byte, Info, error) {
	var buf []byte
	n, info, err := s.read(key, offset, limit, func(n int) []byte {
		buf = make([]byte, n)
		return buf
	})
	if err != nil || n == 0 {
		return nil, info, err
	}
	return buf, info, nil
}

// ReadInto is Read into buf (up to len(buf) bytes), for a reader that
// reads block after block: a search reuses one buffer.
func (s *Store) ReadInto(_ context.Context, key Key, offset int64, buf []byte) (int, Info, error) {
	return s.read(key, offset, len(buf), func(n int) []byte { return buf[:n] })
}

// read reads up to limit bytes of key from offset into the buffer that
// into gives for the number of bytes there are.
func (s *Store) read(key Key, offset int64, limit int, into func(n int) []byte) (int, Info, error) {
	st := s.stream(key)
	if st == nil {
		return 0, Info{}, ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	info := s.info(st)
	if offset < st.start {
		offset = st.start
	}
	if offset >= info.Length || limit <= 0 {
		return 0, info, nil
	}
	n := min(int64(limit), info.Length-offset)
	if err := s.readAt(st, into(int(n)), offset); err != nil {
		return 0, info, err
	}
	return int(n), info, nil
}

func (s *Store) stream(key Key) *stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[key]
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// OffsetAt returns the offset of the first byte the stream stored at or
// after t, or its length when it stored nothing since (each append keeps
// its time, so the extents are the stream's time → offset map; a clock
// stepped back makes the answer approximate, never out of range).
func (s *Store) OffsetAt(_ context.Context, key Key, t time.Time) (int64, error) {
	s.mu.RLock()
	st := s.streams[key]
	s.mu.RUnlock()
	if st == nil {
		return 0, ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch { // beyond what UnixNano can hold
	case t.After(maxTime):
		return s.durableLength(st), nil
	case t.Before(minTime):
		return st.start, nil
	}
	at, end := t.UnixNano(), s.durableLength(st)
	off, err := s.offsetAt(st, at)
	if err != nil {
		return 0, err
	}
	return min(max(off, st.start), end), nil
}

// TimeAt returns when the append that holds offset was received (the
// time of the stream's first kept byte for an offset before its start),
// and where that append ends: the time holds for the offsets up to it.
func (s *Store) TimeAt(_ context.Context, key Key, offset int64) (time.Time, int64, error) {
	s.mu.RLock()
	st := s.streams[key]
	s.mu.RUnlock()
	if st == nil {
		return time.Time{}, 0, ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.spans) == 0 {
		return time.Time{}, offset + 1, nil
	}
	i := sort.Search(len(st.spans), func(i int) bool { return st.spanEnd(i) > offset })
	if i == len(st.spans) {
		i--
	}
	sp := &st.spans[i]
	spanTime := func() (time.Time, int64, error) { return time.Unix(0, sp.time).UTC(), offset + 1, nil }
	if !sp.onDisk {
		lo := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off >= sp.off })
		ext := st.ext[lo:]
		j := sort.Search(len(ext), func(j int) bool { return ext[j].off > offset })
		if j == 0 {
			return spanTime()
		}
		e := ext[j-1]
		return time.Unix(0, e.time).UTC(), e.off + e.n, nil
	}
	j, err := s.searchIdx(sp, func(e extent) bool { return e.off <= offset })
	if err != nil {
		return time.Time{}, 0, err
	}
	if j == 0 {
		return spanTime()
	}
	var one [1]extent
	es, err := s.entries(sp.seg, sp.first+j-1, one[:])
	if err != nil {
		return time.Time{}, 0, err
	}
	return time.Unix(0, es[0].time).UTC(), es[0].off + es[0].n, nil
}

// HostNames returns every host that has a stream, sorted.
func (s *Store) HostNames(context.Context) ([]string, error) {
	h := s.Hosts()
	slices.Sort(h)
	return h, nil
}

// offsetAt finds the first byte stored at or after at: the span before the
// first one that began at or after at holds it, or that span's first byte
// is it. The caller holds st.mu.
func (s *Store) offsetAt(st *stream, at int64) (int64, error) {
	i := sort.Search(len(st.spans), func(i int) bool { return st.spans[i].time >= at })
	if i == 0 {
		if len(st.spans) == 0 {
			return st.length, nil
		}
		return st.spans[0].off, nil
	}
	sp := &st.spans[i-1]
	end := st.spanEnd(i - 1)
	if !sp.onDisk {
		lo := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off >= sp.off })
		ext := st.ext[lo:]
		j := sort.Search(len(ext), func(j int) bool { return ext[j].off >= end || ext[j].time >= at })
		if j < len(ext) && ext[j].off < end {
			return ext[j].off, nil
		}
		return end, nil
	}
	j, err := s.searchIdx(sp, func(e extent) bool { return e.time < at })
	if err != nil || j == sp.count {
		return end, err
	}
	var one [1]extent
	es, err := s.entries(sp.seg, sp.first+j, one[:])
	if err != nil {
		return 0, err
	}
	return es[0].off, nil
}

// spanEnd is where span i's bytes end: where the next begins.
func (st *stream) spanEnd(i int) int64 {
	if i+1 < len(st.spans) {
		return st.spans[i+1].off
	}
	return st.length
}

// durableLength is how far st's bytes are durable; the caller holds st.mu.
// Tickets become durable in order, so the first append not yet durable is
// where the durable bytes end; the ones before it are forgotten.
func (s *Store) durableLength(st *stream) int64 {
	i := 0
	for i < len(st.unsynced) && s.group.IsDurable(st.unsynced[i].t) {
		i++
	}
	if i > 0 {
		st.unsynced = st.unsynced[:copy(st.unsynced, st.unsynced[i:])]
	}
	if len(st.unsynced) == 0 {
		return st.length
	}
	return max(st.unsynced[0].off, st.start)
}

// readAt fills buf from logical offset off; the caller holds st.mu and has
// checked that [off, off+len(buf)) lies within [start, length).
func (s *Store) readAt(st *stream, buf []byte, off int64) error {
	i := sort.Search(len(st.spans), func(i int) bool { return st.spanEnd(i) > off })
	for len(buf) > 0 {
		if i >= len(st.spans) {
			return fmt.Errorf("stream %s: no segment holds offset %d", st.key, off)
		}
		sp := &st.spans[i]
		n := min(int64(len(buf)), st.spanEnd(i)-off)
		var err error
		if sp.onDisk {
			err = s.readIndexed(st, sp, buf[:n], off)
		} else {
			err = st.readExt(sp.seg, buf[:n], off)
		}
		if err != nil {
			return err
		}
		buf, off, i = buf[n:], off+n, i+1
	}
	return nil
}

// readExt reads [off, off+len(buf)) of the stream from seg through ext.
func (st *stream) readExt(seg *segment, buf []byte, off int64) error {
	i := sort.Search(len(st.ext), func(i int) bool { return st.ext[i].off+st.ext[i].n > off })
	for len(buf) > 0 {
		if i >= len(st.ext) || st.ext[i].off > off {
			return fmt.Errorf("stream %s: no extent holds offset %d", st.key, off)
		}
		if err := readExtent(seg, st.ext[i], &buf, &off); err != nil {
			return err
		}
		i++
	}
	return nil
}

// readIndexed reads [off, off+len(buf)) of the stream from sp's segment,
// finding its records through the segment's index file.
func (s *Store) readIndexed(st *stream, sp *span, buf []byte, off int64) error {
	j, err := s.searchIdx(sp, func(e extent) bool { return e.off+e.n <= off })
	if err != nil {
		return err
	}
	var batch [64]extent
	for len(buf) > 0 {
		if j >= sp.count {
			// Past its last record: bytes lost to a damaged segment.
			return fmt.Errorf("stream %s: bytes from offset %d were lost to damage in %s", st.key, off, sp.seg.name)
		}
		es, err := s.entries(sp.seg, sp.first+j, batch[:min(uint32(len(batch)), sp.count-j)])
		if err != nil {
			return err
		}
		for _, e := range es {
			if len(buf) == 0 {
				break
			}
			if e.off > off || e.off+e.n <= off {
				return s.damaged(sp.seg, fmt.Errorf("no entry for offset %d of %s", off, st.key))
			}
			if err := readExtent(sp.seg, e, &buf, &off); err != nil {
				return err
			}
		}
		j += uint32(len(es))
	}
	return nil
}

// readExtent reads the part of e from *off into *buf and advances both.
func readExtent(seg *segment, e extent, buf *[]byte, off *int64) error {
	skip := *off - e.off
	n := min(int64(len(*buf)), e.n-skip)
	if _, err := seg.f.ReadAt((*buf)[:n], e.pos+skip); err != nil {
		return fmt.Errorf("read %s at %d: %w", seg.name, e.pos+skip, err)
	}
	*buf, *off = (*buf)[n:], *off+n
	return nil
}

// Extent is one append as the store keeps it: where its bytes are in the
// stream and when they came.
type Extent struct {
	Off, N int64
	Time   time.Time
}

// Extents hands fn the stream's appends that end after from, oldest first,
// as far as they are durable (the part of the first before from is cut
// off). fn runs without the stream's lock (it may Read the stream); the
// walk goes on from where the last append handed on ended.
func (s *Store) Extents(key Key, from int64, fn func(Extent) error) error {
	for {
		batch, err := s.extentsFrom(key, from, 1024)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		last := batch[len(batch)-1]
		from = last.Off + last.N
	}
}

// extentsFrom gathers up to limit appends ending after from.
func (s *Store) extentsFrom(key Key, from int64, limit int) ([]Extent, error) {
	s.mu.RLock()
	st := s.streams[key]
	s.mu.RUnlock()
	if st == nil {
		return nil, ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	from = max(from, st.start)
	end := s.durableLength(st)
	var out []Extent
	add := func(e extent) bool {
		lo, hi := max(e.off, from), min(e.off+e.n, end)
		if lo < hi {
			out = append(out, Extent{Off: lo, N: hi - lo, Time: time.Unix(0, e.time).UTC()})
		}
		return len(out) < limit
	}
	for i := range st.spans {
		sp := &st.spans[i]
		spEnd := st.spanEnd(i)
		if spEnd <= from {
			continue
		}
		if !sp.onDisk {
			j := sort.Search(len(st.ext), func(j int) bool { return st.ext[j].off+st.ext[j].n > max(from, sp.off) })
			for ; j < len(st.ext) && st.ext[j].off < spEnd; j++ {
				if !add(st.ext[j]) {
					return out, nil
				}
			}
			continue
		}
		j, err := s.searchIdx(sp, func(e extent) bool { return e.off+e.n <= from })
		if err != nil {
			return nil, err
		}
		var batch [64]extent
		for j < sp.count {
			es, err := s.entries(sp.seg, sp.first+j, batch[:min(uint32(len(batch)), sp.count-j)])
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				if !add(e) {
					return out, nil
				}
			}
			j += uint32(len(es))
		}
	}
	return out, nil
}

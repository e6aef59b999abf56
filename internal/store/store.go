// Package store keeps the fleet's log streams: append-only byte sequences
// with logical offsets that are never reused.
//
// Every stream's bytes go into one shared, segmented log (seg-*.log, each a
// long-lived append-only file), so one group commit (package groupsync) makes
// many hosts' appends durable with one fdatasync. An in-memory map from
// (stream, offset) to segment positions serves reads and is rebuilt from the
// segments at start-up; a torn tail left by a crash is recognised by its CRC
// and cut off. Retention drops whole oldest segments and moves each affected
// stream's start forward; streams.json, written atomically before segments are
// deleted, remembers lengths that no surviving byte holds.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
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
type QuotaError struct{ Msg string }

func (e *QuotaError) Error() string { return e.Msg }
func (e *QuotaError) Unwrap() error { return ErrQuota }

// Streams is the narrow interface the receiver uses, so another backend (an
// object store, a database) can take the place of the local log.
type Streams interface {
	Begin(key Key, offset int64, gen Gen, data []byte) (Begun, error)
	Read(key Key, offset int64, limit int) ([]byte, Info, error)
	Stat(key Key) (Info, bool)
	List(host string) []Info
	OffsetAt(key Key, t time.Time) (int64, error)
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
	MinFree         int64         // answer ErrFull below this much free disk
	FreeSpace       func() (int64, error)
	Now             func() time.Time
	Log             *slog.Logger
	Sync            *groupsync.Group // shared with the index; Run by the owner
	// OnJournal is called at recovery for every journal entry found, in
	// order; payload is only valid during the call.
	OnJournal func(seq uint64, payload []byte)
	// BeforeDrop runs before retention deletes segments, and returns the
	// sequence number up to which journal entries are safe elsewhere (the
	// index syncs its files); it is kept in streams.json.
	BeforeDrop func() (uint64, error)
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
}

type hostUsage struct {
	mu    sync.Mutex
	total int64 // bytes held (length - start, summed)
	day   int64 // unix day of dayBytes
	today int64
}

type stream struct {
	mu       sync.Mutex
	key      Key
	start    int64
	length   int64
	gen      string
	genStart int64
	updated  int64
	extents  []extent
	last     groupsync.Ticket // ticket of the newest append
	dropped  bool             // removed from the map: never held a byte
}

type extent struct {
	off  int64 // logical offset of the first byte
	n    int64
	seg  *segment
	pos  int64 // file position of the first byte
	time int64
	t    groupsync.Ticket // its write's ticket; 0 when read back from disk at start-up
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
func (s *Store) Stat(key Key) (Info, bool) {
	s.mu.RLock()
	st := s.streams[key]
	s.mu.RUnlock()
	if st == nil {
		return Info{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	info := s.info(st)
	info.Length = st.length
	return info, true
}

// info describes st for readers, as far as it is durable: a reader never
// sees bytes a crash could still take (and the host would then send again,
// perhaps different). The caller holds st.mu.
func (s *Store) info(st *stream) Info {
	return Info{Stream: st.key.Stream, Start: st.start, Length: s.durableLength(st), Gen: st.gen, GenStart: st.genStart, Updated: st.updated}
}

// List returns a host's streams sorted by name.
func (s *Store) List(host string) []Info {
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
	return out
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
func (s *Store) Read(key Key, offset int64, limit int) ([]byte, Info, error) {
	s.mu.RLock()
	st := s.streams[key]
	s.mu.RUnlock()
	if st == nil {
		return nil, Info{}, ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	info := s.info(st)
	if offset < st.start {
		offset = st.start
	}
	if offset >= info.Length || limit <= 0 {
		return nil, info, nil
	}
	n := min(int64(limit), info.Length-offset)
	buf := make([]byte, n)
	if err := st.readAt(buf, offset); err != nil {
		return nil, info, err
	}
	return buf, info, nil
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// OffsetAt returns the offset of the first byte the stream stored at or
// after t, or its length when it stored nothing since (each append keeps
// its time, so the extent map is the stream's time → offset map; a clock
// stepped back makes the answer approximate, never out of range).
func (s *Store) OffsetAt(key Key, t time.Time) (int64, error) {
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
	i := sort.Search(len(st.extents), func(i int) bool { return st.extents[i].time >= at })
	if i == len(st.extents) {
		return end, nil
	}
	return min(max(st.extents[i].off, st.start), end), nil
}

// durableLength is how far st's bytes are durable; the caller holds st.mu.
// Tickets grow along the extents, so only the newest few are looked at.
func (s *Store) durableLength(st *stream) int64 {
	end := st.length
	for i := len(st.extents) - 1; i >= 0; i-- {
		e := st.extents[i]
		if e.t == 0 || s.group.IsDurable(e.t) {
			break
		}
		end = max(e.off, st.start)
	}
	return end
}

// readAt fills buf from logical offset off; the caller holds st.mu and has
// checked that [off, off+len(buf)) lies within [start, length).
func (st *stream) readAt(buf []byte, off int64) error {
	i := st.find(off)
	for len(buf) > 0 {
		if i >= len(st.extents) {
			return fmt.Errorf("stream %s: no extent holds offset %d", st.key, off)
		}
		e := st.extents[i]
		skip := off - e.off
		n := min(int64(len(buf)), e.n-skip)
		if _, err := e.seg.f.ReadAt(buf[:n], e.pos+skip); err != nil {
			return fmt.Errorf("read %s at %d: %w", e.seg.name, e.pos+skip, err)
		}
		buf, off, i = buf[n:], off+n, i+1
	}
	return nil
}

// find returns the index of the extent holding off.
func (st *stream) find(off int64) int {
	lo, hi := 0, len(st.extents)
	for lo < hi {
		m := (lo + hi) / 2
		if st.extents[m].off+st.extents[m].n <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/wire"
)

// Append puts data at offset of key and returns once the stream's bytes up
// to offset+len(data) are durable; see Begin for the outcomes.
func (s *Store) Append(ctx context.Context, key Key, offset int64, gen Gen, data []byte) (Outcome, int64, error) {
	b, err := s.Begin(ctx, key, offset, gen, data)
	if err != nil {
		return 0, b.Length, err
	}
	if err := b.Durable(ctx); err != nil {
		return 0, b.Length, err
	}
	return b.Outcome, b.Length, nil
}

// Begun is what Begin did.
type Begun struct {
	Outcome  Outcome
	Length   int64   // the stream's length after the call
	Appended int64   // bytes this call added; a retry overlapping stored bytes adds only its new tail
	Durable  Durable // wait on it before telling the host
	// WithLine, if not nil, takes the request's index line (its time and
	// JSON) into the commit that makes the bytes durable, and returns the
	// wait for both, to use instead of Durable: the postgres+s3 backend
	// commits each batch of appends in a transaction, and one commit is
	// cheaper than two. The local store puts the line in the same group
	// commit through the index writer instead, and leaves it nil.
	WithLine func(ts time.Time, line []byte) (Durable, error)
}

// Append is Begin followed by the wait for Durable, for callers with no
// index line to commit alongside (tools, tests).
func Append(ctx context.Context, s Streams, key Key, offset int64, gen Gen, data []byte) (Begun, error) {
	b, err := s.Begin(ctx, key, offset, gen, data)
	if err != nil || b.Durable == nil {
		return b, err
	}
	if err := b.Durable(ctx); err != nil {
		return Begun{}, err
	}
	b.Durable, b.WithLine = nil, nil
	return b, nil
}

// Begin puts data at offset of key and returns what it did (Begun), with a
// Durable to wait on before the host may be told:
//
//   - offset == length: the bytes are appended (Appended);
//   - the bytes overlap stored ones and agree: nothing is written twice, and
//     Durable waits until the overlapped bytes are durable (Duplicate), or
//     the new tail is appended (Appended);
//   - anything else is a *ConflictError carrying the length to resync to.
//
// Splitting the write from the wait lets the caller put the request's index
// line into the same group commit, so one sync acknowledges both.
func (s *Store) Begin(_ context.Context, key Key, offset int64, gen Gen, data []byte) (Begun, error) {
	if offset < 0 {
		return Begun{}, &ConflictError{Reason: wire.ReasonGap}
	}
	st, hu, err := s.lockStream(key)
	if err != nil {
		return Begun{}, err
	}
	// A refused request must not leave an empty stream behind: a host could
	// otherwise grow the receiver's memory with names it never writes, and
	// HEAD would answer 200 for a stream that holds nothing.
	refuse := func(err error) (Begun, error) {
		length := st.length
		s.dropIfEmpty(st)
		st.mu.Unlock()
		return Begun{Length: length}, err
	}
	length := st.length
	if offset < st.start {
		return refuse(&ConflictError{Reason: wire.ReasonBeforeStart, Length: length, Start: st.start})
	}
	if offset > length {
		return refuse(&ConflictError{Reason: wire.ReasonGap, Length: length})
	}
	overlap := min(length-offset, int64(len(data)))
	if overlap > 0 {
		stored := make([]byte, overlap)
		if err := s.readAt(st, stored, offset); err != nil {
			return refuse(err)
		}
		if !bytes.Equal(stored, data[:overlap]) {
			return refuse(&ConflictError{Reason: wire.ReasonMismatch, Length: length})
		}
	}
	tail := data[overlap:]
	if len(tail) == 0 {
		// A retry of bytes we hold: confirm only once they are durable.
		t := st.last
		s.dropIfEmpty(st)
		st.mu.Unlock()
		return Begun{Outcome: Duplicate, Length: length, Durable: s.durable(t)}, nil
	}
	if length == 0 && st.start == 0 && st.gen == "" {
		if err := s.underStreamCap(hu, key.Host); err != nil {
			return refuse(err)
		}
	}
	if err := s.admit(hu, key.Host, int64(len(tail))); err != nil {
		return refuse(err)
	}
	now := s.now().UnixNano()
	rec := record{kind: kindData, key: key.String(), gen: gen.ID, offset: length, time: now, genStart: gen.Start, data: tail}
	if gen.ID == "" { // a PUT without generation headers keeps the last one
		rec.gen, rec.genStart = st.gen, st.genStart
	}
	seg, pos, t, err := s.write(&rec, st)
	if err != nil {
		hu.release(int64(len(tail)))
		return refuse(err)
	}
	st.add(seg, extent{off: length, n: int64(len(tail)), pos: pos, time: now})
	s.durableLength(st) // forgets the appends made durable since
	st.unsynced = append(st.unsynced, unsynced{t, length})
	st.length += int64(len(tail))
	st.gen, st.genStart, st.updated, st.last = rec.gen, rec.genStart, now, t
	newLen := st.length
	st.mu.Unlock()
	return Begun{Outcome: Appended, Length: newLen, Appended: int64(len(tail)), Durable: s.durable(t)}, nil
}

// Durable waits until a write is on disk. Nothing may be acknowledged to a
// host before it returns nil.
type Durable = groupsync.Durable

func (s *Store) durable(t groupsync.Ticket) Durable { return s.group.Durable(t) }

// Journal appends an entry (an index line) to the log under sequence number
// seq. It is durable with the same group commit as the stream data written
// before it, and recovery hands it back through Options.OnJournal.
func (s *Store) Journal(seq uint64, payload []byte) (groupsync.Ticket, error) {
	rec := record{kind: kindAux, offset: int64(seq), time: s.now().UnixNano(), data: payload}
	_, _, t, err := s.write(&rec, nil)
	return t, err
}

// lockStream returns key's stream, created if need be, with its lock held.
func (s *Store) lockStream(key Key) (*stream, *hostUsage, error) {
	for {
		st, hu, err := s.streamFor(key)
		if err != nil {
			return nil, nil, err
		}
		st.mu.Lock()
		if !st.dropped {
			return st, hu, nil
		}
		st.mu.Unlock() // removed while we waited: take the new one
	}
}

// dropIfEmpty forgets st if it holds nothing and never did; the caller holds
// st.mu.
func (s *Store) dropIfEmpty(st *stream) {
	if st.length != 0 || st.start != 0 || len(st.spans) != 0 || st.gen != "" {
		return
	}
	s.mu.Lock()
	if s.streams[st.key] == st {
		delete(s.streams, st.key)
		if hu := s.hosts[st.key.Host]; hu != nil {
			hu.streams--
		}
	}
	s.mu.Unlock()
	st.dropped = true
}

func (s *Store) streamFor(key Key) (*stream, *hostUsage, error) {
	s.mu.RLock()
	st, hu, closed := s.streams[key], s.hosts[key.Host], s.closed
	s.mu.RUnlock()
	if closed {
		return nil, nil, ErrClosed
	}
	if st != nil {
		return st, hu, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	st, hu = s.getStream(key)
	return st, hu, nil
}

// getStream returns key's stream, creating it; the caller holds s.mu.
func (s *Store) getStream(key Key) (*stream, *hostUsage) {
	hu := s.hosts[key.Host]
	if hu == nil {
		hu = &hostUsage{}
		s.hosts[key.Host] = hu
	}
	st := s.streams[key]
	if st == nil {
		st = &stream{key: key}
		s.streams[key] = st
		hu.streams++
	}
	return st, hu
}

// underStreamCap refuses a host's first append to a new stream once it
// has HostStreams others: a host making thousands of streams costs memory
// and files for every one.
func (s *Store) underStreamCap(hu *hostUsage, host string) error {
	lim := s.opt.HostStreams
	if lim <= 0 {
		return nil
	}
	s.mu.RLock()
	n := hu.streams - 1 // not this one
	s.mu.RUnlock()
	if n < lim {
		return nil
	}
	return StreamsQuota(host, int64(n), int64(lim))
}

// StreamsQuota refuses host a new stream: it has used of its limit.
func StreamsQuota(host string, used, limit int64) *QuotaError {
	return &QuotaError{Reason: wire.ReasonStreams, Kind: "streams", Used: used, Limit: limit,
		Msg: fmt.Sprintf("host %s has %d streams and may have at most %d; ship fewer files or raise quota.host_streams", host, used, limit)}
}

// TotalQuota refuses host an append: it holds used bytes of its limit.
func TotalQuota(host string, used, limit int64) *QuotaError {
	return &QuotaError{Kind: "total", Used: used, Limit: limit, Msg: fmt.Sprintf("host %s holds %d bytes and its quota is %d; raise quota.host_bytes_total or wait for retention", host, used, limit)}
}

// DayQuota refuses host an append: it used bytes of today's limit.
func DayQuota(host string, used, limit int64) *QuotaError {
	return &QuotaError{Kind: "day", Used: used, Limit: limit, Msg: fmt.Sprintf("host %s used %d bytes of its daily quota of %d today (UTC; each append costs %d bytes beyond its own); it may send more after midnight UTC",
		host, used, limit, AppendCost)}
}

// AppendCost is what an append is charged against the daily quota beyond
// its bytes: about what its record, its entry in the segment's index file
// and its index line (written twice) cost on disk, so that a flood of tiny
// appends is bounded by the quota as a flood of large ones is.
const AppendCost = 1 << 10

// admit charges n bytes to the host's quotas and the disk, or refuses.
func (s *Store) admit(hu *hostUsage, host string, n int64) error {
	if s.opt.MinFree > 0 {
		free, err := s.free.get(s.opt.FreeSpace)
		if err == nil && free-n < s.opt.MinFree {
			return fmt.Errorf("%w: %d bytes free, the receiver keeps %d free", ErrFull, free, s.opt.MinFree)
		}
	}
	day := s.now().Unix() / 86400
	hu.mu.Lock()
	defer hu.mu.Unlock()
	if hu.day != day {
		hu.day, hu.today, hu.appends = day, 0, 0
	}
	if lim := s.opt.HostBytesTotal; lim > 0 && hu.total+n > lim {
		return TotalQuota(host, hu.total, lim)
	}
	if lim := s.opt.HostBytesPerDay; lim > 0 && hu.today+n+(hu.appends+1)*AppendCost > lim {
		return DayQuota(host, hu.today+hu.appends*AppendCost, lim)
	}
	hu.total += n
	hu.today += n
	hu.appends++
	s.free.spend(n)
	return nil
}

func (hu *hostUsage) release(n int64) {
	hu.mu.Lock()
	hu.total -= n
	hu.today -= n
	hu.appends--
	hu.mu.Unlock()
}

// splitWrite is the data size above which a record is written in two parts.
const splitWrite = 16 << 10

// add records e, stored in seg, before st.gen takes the record's
// generation; the caller holds st.mu.
func (st *stream) add(seg *segment, e extent) {
	if n := len(st.spans); n == 0 || st.spans[n-1].seg != seg {
		if n > 0 && !st.spans[n-1].onDisk {
			st.endGen = append(st.endGen, genAt{st.spans[n-1].seg, st.gen, st.genStart})
		}
		st.spans = append(st.spans, span{off: e.off, time: e.time, seg: seg})
	}
	st.ext = append(st.ext, e)
}

// write appends rec to the active segment, rotating first when it is full,
// and returns where rec's data lies and the commit ticket covering it; the
// segment notes st, the stream the record belongs to, for its index. A
// failed write is cut back off, so no partial record is left before later ones.
func (s *Store) write(rec *record, st *stream) (*segment, int64, groupsync.Ticket, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	seg := s.segs[len(s.segs)-1]
	s.mu.RUnlock()
	if seg.size > 0 && seg.size+rec.size() > s.opt.SegmentSize {
		next, err := s.rotate(seg)
		if err != nil {
			return nil, 0, 0, err
		}
		seg = next
	}
	pos := seg.size
	// A small record is one write; a large one is two (head, then the data
	// where it lies), which is cheaper than copying the data once more.
	split := len(rec.data) > splitWrite
	s.buf = rec.encodeHead(s.buf[:0], !split)
	_, err := seg.f.WriteAt(s.buf, pos)
	if err == nil && split {
		_, err = seg.f.WriteAt(rec.data, pos+int64(len(s.buf)))
	}
	if err != nil {
		if terr := seg.f.Truncate(pos); terr != nil {
			s.opt.Log.Error("cut back a failed write", "segment", seg.name, "err", terr)
		}
		return nil, 0, 0, fmt.Errorf("append to %s: %w", seg.name, err)
	}
	seg.size += rec.size()
	seg.newest = rec.time
	if st != nil {
		seg.touched[st] = struct{}{}
	} else {
		seg.journalMax = max(seg.journalMax, uint64(rec.offset))
	}
	t := s.group.Wrote(seg.f)
	dataPos := pos + headerSize + int64(len(rec.key)+len(rec.gen))
	return seg, dataPos, t, nil
}

// RoomForLines reports ErrFull once free disk space is below a quarter of
// MinFree. Appends stop at MinFree; the index lines that record their 507s
// (how the detector learns the disk is full), heartbeats and the
// detector's files may use the rest of the reserve, down to this floor.
func (s *Store) RoomForLines() error {
	if s.opt.MinFree <= 0 {
		return nil
	}
	free, err := s.free.get(s.opt.FreeSpace)
	if err == nil && free < s.opt.MinFree/4 {
		return fmt.Errorf("%w: %d bytes free, under a quarter of the %d the receiver keeps", ErrFull, free, s.opt.MinFree)
	}
	return nil
}

// freeCache asks the file system for free space at most once a second and
// subtracts what was written since.
type freeCache struct {
	mu    sync.Mutex
	at    time.Time
	free  int64
	spent int64
}

func (c *freeCache) get(statfs func() (int64, error)) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if statfs == nil {
		return 1 << 62, nil
	}
	if time.Since(c.at) > time.Second {
		f, err := statfs()
		if err != nil {
			return 0, err
		}
		c.at, c.free, c.spent = time.Now(), f, 0
	}
	return c.free - c.spent, nil
}

func (c *freeCache) spend(n int64) {
	c.mu.Lock()
	c.spent += n
	c.mu.Unlock()
}

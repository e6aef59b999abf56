package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// recovery is the state of Open's pass over the segments.
type recovery struct {
	s        *Store
	reps     map[string]*replay // by "host/stream"
	today    int64
	dayBytes map[string]int64
	skipped  int
	holes    int
}

// replay is what recovery learnt of one stream.
type replay struct {
	key      Key
	st       *stream
	snap     snapStream
	inSnap   bool
	firstOff int64
	end      int64
	has      bool
}

// recover rebuilds the streams: from the header and table of each sealed
// segment's index file, and from every record of the segments without one
// (the active segment, and a sealed one whose index was not yet written or
// is damaged). Its cost grows with segments and streams, plus one segment
// read whole, not with the appends the store holds.
func (s *Store) recover(snap map[Key]snapStream) error {
	seqs, idxs, flts, err := s.listFiles()
	if err != nil {
		return err
	}
	s.fresh = s.fresh && len(seqs) == 0
	rc := &recovery{s: s, reps: map[string]*replay{}, today: s.now().Unix() / 86400, dayBytes: map[string]int64{}}
	for k, e := range snap {
		rp := rc.rep(k)
		rp.snap, rp.inSnap = e, true
		st := rc.stream(rp)
		st.start, st.length, st.gen, st.genStart, st.updated = e.Start, e.Length, e.Gen, e.GenStart, e.Updated
	}
	// An index file is written only once the journal entries in its
	// segment and every older one are safe elsewhere (JournalSafe), so a
	// segment at or before the newest index file is read without handing
	// its entries to OnJournal even if its own index is damaged: the day
	// files hold them. A sealed segment without a usable index before one
	// with an index is indexed during recovery, so only a suffix of
	// segments keeps one extent per append in memory.
	lastIndexed := -1
	for i, seq := range seqs {
		if idxs[seq] {
			lastIndexed = i
		}
	}
	var unindexed int
	for i, seq := range seqs {
		seg, size, err := s.openSegment(seq)
		if err != nil {
			return err
		}
		seg.filtered = flts[seq] != "" // read and checked when a search needs it
		newest := i == len(seqs)-1
		if idxs[seq] {
			if err := rc.loadIdx(seg, size); err == nil {
				continue
			} else {
				s.opt.Log.Warn("a segment index is damaged or stale; rebuilding it from its segment", "segment", seg.name, "err", err)
			}
		} else if !newest {
			unindexed++
		}
		if err := rc.scan(seg, size, newest, i > lastIndexed); err != nil {
			return err
		}
		if !newest && i < lastIndexed {
			if err := s.indexSegment(seg, false); err != nil {
				return err
			}
		}
	}
	if unindexed > 0 {
		s.opt.Log.Info("read sealed segments that have no index file yet; they are indexed in the background", "segments", unindexed)
	}
	if err := s.fs.SyncDir(s.opt.Dir); err != nil {
		return fmt.Errorf("sync store folder: %w", err)
	}
	if rc.skipped > 0 {
		s.opt.Log.Warn("skipped records that do not continue their stream", "count", rc.skipped)
	}
	if rc.holes > 0 {
		s.opt.Log.Error("streams have holes where records were lost to a damaged segment; their lengths are kept, and reads of the holes fail", "holes", rc.holes)
	}
	rc.finish()
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].size >= s.opt.SegmentSize {
		var seq uint64 = 1
		if len(s.segs) > 0 {
			seq = s.segs[len(s.segs)-1].seq + 1
		}
		if _, err := s.newSegment(seq); err != nil {
			return err
		}
	}
	return nil
}

// listFiles returns the segments' sequence numbers, oldest first, and which
// of them have an index file. It removes what a crash or retention left
// behind: temporary files, index files without a segment, and an index file
// of the newest segment (which stays active, so it would go stale).
func (s *Store) listFiles() ([]uint64, map[uint64]bool, map[uint64]string, error) {
	names, err := s.fs.ReadDir(s.opt.Dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list store folder: %w", err)
	}
	var seqs []uint64
	idxs, flts := map[uint64]bool{}, map[uint64]string{} // flts: seq → file name
	var junk []string
	for _, n := range names {
		if !strings.HasPrefix(n, segPrefix) {
			continue
		}
		num, suffix, _ := strings.Cut(strings.TrimPrefix(n, segPrefix), ".")
		seq, err := strconv.ParseUint(num, 10, 64)
		switch {
		case err != nil:
		case "."+suffix == segSuffix:
			seqs = append(seqs, seq)
		case "."+suffix == idxSuffix:
			idxs[seq] = true
		case "."+suffix == fltSuffix:
			flts[seq] = n
		case strings.HasSuffix(n, ".tmp"):
			junk = append(junk, n)
		}
	}
	slices.Sort(seqs)
	for seq := range idxs {
		if _, ok := slices.BinarySearch(seqs, seq); !ok || seq == seqs[len(seqs)-1] {
			delete(idxs, seq)
			junk = append(junk, idxName(seq))
		}
	}
	for seq, n := range flts {
		if !idxs[seq] || n != fltName(seq) { // filters only beside an indexed segment
			delete(flts, seq)
			junk = append(junk, n)
		}
	}
	for _, n := range junk {
		if err := s.fs.Remove(filepath.Join(s.opt.Dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("remove %s: %w", n, err)
		}
	}
	return seqs, idxs, flts, nil
}

func (s *Store) openSegment(seq uint64) (*segment, int64, error) {
	name := segName(seq)
	f, err := s.fs.OpenFile(filepath.Join(s.opt.Dir, name), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open segment %s: %w", name, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("size of %s: %w", name, err)
	}
	seg := &segment{seq: seq, name: name, f: f, size: size, touched: map[*stream]struct{}{}}
	s.segs = append(s.segs, seg)
	return seg, size, nil
}

// rep returns the replay state of key, creating it and its stream.
func (rc *recovery) rep(k Key) *replay {
	ks := k.String()
	rp := rc.reps[ks]
	if rp == nil {
		rp = &replay{key: k}
		rc.reps[ks] = rp
	}
	return rp
}

// stream returns rp's stream, creating it: a stream exists once a byte of
// it, or its entry in streams.json, is found.
func (rc *recovery) stream(rp *replay) *stream {
	if rp.st == nil {
		rp.st, _ = rc.s.getStream(rp.key)
	}
	return rp.st
}

// loadIdx takes seg's streams from its index file, if that is whole and
// describes the segment as it is.
func (rc *recovery) loadIdx(seg *segment, size int64) error {
	s := rc.s
	f, err := s.fs.OpenFile(filepath.Join(s.opt.Dir, idxName(seg.seq)), os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	hd, err := readIdxHead(f)
	if err != nil {
		return err
	}
	if hd.segSize != size {
		return fmt.Errorf("%w: it describes %d bytes, the segment holds %d", errBadIdx, hd.segSize, size)
	}
	seg.newest, seg.journalMax, seg.indexed, seg.touched = hd.newest, hd.journalMax, true, nil
	seg.idxSize = hd.entriesAt + int64(hd.entries)*idxEntrySize
	s.journalSeq = max(s.journalSeq, hd.journalMax)
	for _, r := range hd.rows {
		rp := rc.rep(r.key)
		if !rc.accept(rp, r.firstOff, r.endOff) {
			continue
		}
		st := rc.stream(rp)
		st.spans = append(st.spans, span{off: r.firstOff, time: r.firstTime, seg: seg, onDisk: true, first: r.first, count: r.count})
		if rp.end >= st.length {
			st.length, st.gen, st.genStart = rp.end, r.gen, r.genStart
		}
		st.updated = max(st.updated, r.lastTime)
		if r.lastTime/int64(time.Second)/86400 == rc.today {
			rc.dayBytes[r.key.Host] += r.last
		}
	}
	return nil
}

// accept reports whether bytes [off, end) continue rp's stream, and notes
// them; bytes retention dropped (their segment not yet deleted) and bytes
// that do not follow on are left out.
func (rc *recovery) accept(rp *replay, off, end int64) bool {
	if rp.inSnap && end <= rp.snap.Start {
		return false
	}
	if rp.has && off < rp.end {
		rc.skipped++ // overlaps: cannot be a byte the host sent here
		return false
	}
	if rp.has && off > rp.end {
		// Records were lost to damage (a sealed segment that cannot be
		// read to its end): keep what follows and the length, so no
		// offset is reused; a read of the hole fails.
		rc.holes++
	}
	if !rp.has {
		rp.has, rp.firstOff = true, off
	}
	rp.end = end
	return true
}

// scan reads every record of seg, hands its journal entries to OnJournal
// when journal, cuts a torn tail off the newest segment, and syncs what a
// killed process left in the page cache. A sealed segment was synced whole
// before the next one began, so a bad record there is damage, not a torn
// write: it is kept or skipped, never cut, so no acknowledged record after
// it is lost and no stream's length goes back.
func (rc *recovery) scan(seg *segment, size int64, newest, journal bool) error {
	s := rc.s
	bad := 0
	valid, err := scanSegment(seg.f, size, !newest, func(r *scanned) {
		if r.bad {
			bad++
			if r.kind == kindAux {
				return // its line is in the day files (see recover)
			}
		}
		seg.newest = max(seg.newest, r.time)
		if r.kind == kindAux {
			s.journalSeq = max(s.journalSeq, uint64(r.offset))
			seg.journalMax = max(seg.journalMax, uint64(r.offset))
			if journal && s.opt.OnJournal != nil {
				s.opt.OnJournal(uint64(r.offset), r.data)
			}
			return
		}
		rc.record(seg, r)
	})
	if err != nil && !errors.Is(err, errTorn) {
		return err
	}
	if bad > 0 {
		s.opt.Log.Error("a sealed segment holds records that fail their checksum (bit rot); their bytes are served as stored", "segment", seg.name, "records", bad)
	}
	if !newest {
		if valid < size {
			s.opt.Log.Error("a sealed segment is damaged: the records after the damage cannot be read, and streams that continue after them have a hole",
				"segment", seg.name, "at", valid, "unreadable", size-valid)
		}
		return nil // synced whole when it was sealed
	}
	seg.size = valid
	if valid < size {
		s.opt.Log.Warn("cut a torn tail off a segment (bytes that were never acknowledged)",
			"segment", seg.name, "valid", valid, "cut", size-valid)
		if err := seg.f.Truncate(valid); err != nil {
			return fmt.Errorf("truncate torn tail of %s: %w", seg.name, err)
		}
	}
	// A killed process leaves its unsynced writes in the page cache:
	// make them durable before any of them is reported or confirmed.
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", seg.name, err)
	}
	return nil
}

// record adds a data record found by scan to its stream.
func (rc *recovery) record(seg *segment, r *scanned) {
	rp := rc.reps[string(r.key)]
	if rp == nil {
		host, strm, ok := bytes.Cut(r.key, []byte("/"))
		if !ok {
			rc.skipped++
			return
		}
		rp = rc.rep(Key{string(host), string(strm)})
	}
	n := int64(r.dataLen)
	if !rc.accept(rp, r.offset, r.offset+n) {
		return
	}
	st := rc.stream(rp)
	st.add(seg, extent{off: r.offset, n: n, pos: r.dataPos, time: r.time})
	seg.touched[st] = struct{}{}
	if rp.end >= st.length {
		st.length = rp.end
		if st.gen != string(r.gen) {
			st.gen = string(r.gen)
		}
		st.genStart = r.genStart
	}
	st.updated = max(st.updated, r.time)
	if r.time/int64(time.Second)/86400 == rc.today {
		rc.dayBytes[rp.key.Host] += n
	}
}

// finish sets each stream's start and each host's usage.
func (rc *recovery) finish() {
	s := rc.s
	for _, rp := range rc.reps {
		st := rp.st
		if st == nil {
			continue
		}
		switch {
		case rp.has && rp.inSnap:
			st.start = max(rp.snap.Start, rp.firstOff)
		case rp.has:
			st.start = rp.firstOff
		default:
			st.start = st.length // every byte was dropped by retention
		}
		hu := s.hosts[rp.key.Host]
		hu.total += st.length - st.start
		hu.day, hu.today = rc.today, rc.dayBytes[rp.key.Host]
	}
}

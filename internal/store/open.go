package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

const (
	segPrefix    = "seg-"
	segSuffix    = ".log"
	snapshotFile = "streams.json"
	// DefaultSegmentSize bounds one segment file; retention frees space a
	// whole segment at a time.
	DefaultSegmentSize = 64 << 20
)

type segment struct {
	seq    uint64
	name   string
	f      vfs.File
	size   int64
	newest int64 // unix nanoseconds of the newest record
}

func segName(seq uint64) string { return fmt.Sprintf("%s%016d%s", segPrefix, seq, segSuffix) }

// snapshot is streams.json: what retention must not forget.
type snapshot struct {
	Streams []snapStream `json:"streams"`
	// JournalSeq: journal entries up to here were safe elsewhere (synced
	// index files) when segments were last dropped.
	JournalSeq uint64 `json:"journal_seq,omitempty"`
}

type snapStream struct {
	Host     string `json:"host"`
	Stream   string `json:"stream"`
	Start    int64  `json:"start"`
	Length   int64  `json:"length"`
	Gen      string `json:"generation,omitempty"`
	GenStart int64  `json:"generation_start"`
	Updated  int64  `json:"updated"`
}

// Open recovers the store in opt.Dir: it reads every segment, cuts a torn
// tail off the newest, and rebuilds the streams. opt.Sync must be running
// (or run soon) for appends to return.
func Open(opt Options) (*Store, error) {
	if opt.FS == nil {
		opt.FS = vfs.OS{}
	}
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = DefaultSegmentSize
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Sync == nil {
		return nil, errors.New("store: no sync group")
	}
	s := &Store{opt: opt, fs: opt.FS, group: opt.Sync, streams: map[Key]*stream{}, hosts: map[string]*hostUsage{}}
	if err := s.fs.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create store folder: %w", err)
	}
	snap, err := s.readSnapshot()
	if err != nil {
		return nil, err
	}
	if err := s.recover(snap); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

func (s *Store) readSnapshot() (map[Key]snapStream, error) {
	b, err := vfs.ReadFile(s.fs, filepath.Join(s.opt.Dir, snapshotFile))
	if errors.Is(err, fs.ErrNotExist) {
		s.fresh = true
		return map[Key]snapStream{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", snapshotFile, err)
	}
	var sn snapshot
	if err := json.Unmarshal(b, &sn); err != nil {
		// Written atomically, so this is not a torn write: refuse to guess
		// lengths, which could reuse offsets.
		return nil, fmt.Errorf("%s is corrupt (%v); restore it from a backup", filepath.Join(s.opt.Dir, snapshotFile), err)
	}
	s.journalSeq = sn.JournalSeq
	m := make(map[Key]snapStream, len(sn.Streams))
	for _, e := range sn.Streams {
		m[Key{e.Host, e.Stream}] = e
	}
	return m, nil
}

func (s *Store) recover(snap map[Key]snapStream) error {
	names, err := s.fs.ReadDir(s.opt.Dir)
	if err != nil {
		return fmt.Errorf("list store folder: %w", err)
	}
	var seqs []uint64
	for _, n := range names {
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	s.fresh = s.fresh && len(seqs) == 0

	type replay struct {
		snap     snapStream
		inSnap   bool
		firstOff int64
		end      int64
		has      bool
	}
	reps := map[Key]*replay{}
	for k, e := range snap {
		reps[k] = &replay{snap: e, inSnap: true}
		st, _ := s.getStream(k)
		st.start, st.length, st.gen, st.genStart, st.updated = e.Start, e.Length, e.Gen, e.GenStart, e.Updated
	}
	today := s.now().Unix() / 86400
	dayBytes := map[string]int64{}
	var skipped int
	for i, seq := range seqs {
		name := segName(seq)
		f, err := s.fs.OpenFile(filepath.Join(s.opt.Dir, name), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open segment %s: %w", name, err)
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return fmt.Errorf("size of %s: %w", name, err)
		}
		seg := &segment{seq: seq, name: name, f: f}
		s.segs = append(s.segs, seg)
		// Segments before the newest two were synced whole before the next
		// began: read their headers only.
		verify := i >= len(seqs)-2
		valid, err := scanSegment(f, size, verify, func(r scanned) {
			seg.newest = max(seg.newest, r.time)
			if r.kind == kindAux {
				s.journalSeq = max(s.journalSeq, uint64(r.offset))
				if s.opt.OnJournal != nil {
					s.opt.OnJournal(uint64(r.offset), r.data)
				}
				return
			}
			host, strm, ok := strings.Cut(r.key, "/")
			if !ok {
				skipped++
				return
			}
			k := Key{host, strm}
			rp := reps[k]
			if rp == nil {
				rp = &replay{}
				reps[k] = rp
			}
			n := int64(r.dataLen)
			if rp.inSnap && r.offset+n <= rp.snap.Start {
				return // dropped by retention; its segment not yet deleted
			}
			if rp.has && r.offset != rp.end {
				skipped++ // not contiguous: cannot be a byte the host sent here
				return
			}
			st, hu := s.getStream(k)
			if !rp.has {
				rp.has, rp.firstOff = true, r.offset
			}
			rp.end = r.offset + n
			st.extents = append(st.extents, extent{off: r.offset, n: n, seg: seg, pos: r.dataPos, time: r.time})
			if rp.end >= st.length {
				st.length = rp.end
				st.gen, st.genStart = r.gen, r.genStart
			}
			st.updated = max(st.updated, r.time)
			if r.time/int64(time.Second)/86400 == today {
				dayBytes[host] += n
			}
			_ = hu
		})
		if err != nil && !errors.Is(err, errTorn) {
			return err
		}
		seg.size = valid
		if valid < size {
			s.opt.Log.Warn("cut a torn tail off a segment (bytes that were never acknowledged)",
				"segment", name, "valid", valid, "cut", size-valid)
			if err := f.Truncate(valid); err != nil {
				return fmt.Errorf("truncate torn tail of %s: %w", name, err)
			}
		}
		// A killed process leaves its unsynced writes in the page cache:
		// make them durable before any of them is reported or confirmed.
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
	}
	if err := s.fs.SyncDir(s.opt.Dir); err != nil {
		return fmt.Errorf("sync store folder: %w", err)
	}
	if skipped > 0 {
		s.opt.Log.Warn("skipped records that do not continue their stream", "count", skipped)
	}
	for k, rp := range reps {
		st := s.streams[k]
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
		hu := s.hosts[k.Host]
		hu.total += st.length - st.start
		hu.day, hu.today = today, dayBytes[k.Host]
	}
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

// newSegment creates segment seq durably (file and directory entry) and makes
// it the active one.
func (s *Store) newSegment(seq uint64) (*segment, error) {
	name := segName(seq)
	f, err := s.fs.OpenFile(filepath.Join(s.opt.Dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	if err := s.fs.SyncDir(s.opt.Dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync store folder: %w", err)
	}
	seg := &segment{seq: seq, name: name, f: f}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	return seg, nil
}

// JournalSeq is the highest journal sequence number that was durable when
// the store was opened (from the segments, or streams.json after retention).
// known is false for a store that held nothing at all (new, or wiped), which
// cannot vouch for anything.
func (s *Store) JournalSeq() (seq uint64, known bool) { return s.journalSeq, !s.fresh }

// rotate seals the full active segment and starts the next. The sealed one is
// synced first, so no record in the new segment can outlive a byte before it.
func (s *Store) rotate(old *segment) (*segment, error) {
	if err := old.f.Sync(); err != nil {
		err = fmt.Errorf("seal %s: %w", old.name, err)
		s.group.Fail(err)
		return nil, s.group.Err()
	}
	return s.newSegment(old.seq + 1)
}

// Close makes everything durable and closes the files.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if n := len(s.segs); n > 0 {
		err = s.segs[n-1].f.Sync()
	}
	s.closeFiles()
	return err
}

func (s *Store) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
	}
}

// DiskFree returns a function reporting the bytes available to an
// unprivileged writer on the file system holding dir.
func DiskFree(dir string) func() (int64, error) {
	return func() (int64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, fmt.Errorf("statfs %s: %w", dir, err)
		}
		return int64(st.Bavail) * int64(st.Bsize), nil
	}
}

func sortInfos(in []Info) {
	slices.SortFunc(in, func(a, b Info) int { return cmp.Compare(a.Stream, b.Stream) })
}

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
	"sync"
	"sync/atomic"
	"syscall"

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
	seq        uint64
	name       string
	f          vfs.File
	size       int64
	newest     int64  // unix nanoseconds of the newest record
	journalMax uint64 // highest journal sequence number in it
	idxSize    int64  // bytes of its index file, once written

	// Until its index file is written: the streams with bytes in it.
	// Written under Store.wmu while it is active, read by the indexer once
	// it is sealed.
	touched map[*stream]struct{}
	indexed bool // its index file is durable; guarded by Store.retainMu

	ixMu    sync.Mutex // guards the open index file
	ix      vfs.File
	ixAt    int64 // where its entries begin
	ixErr   error
	rebuild atomic.Bool // a read found its index file damaged

	fltState // its search filters (filters.go)
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

// Open recovers the store in opt.Dir: it reads the sealed segments' index
// files and the other segments whole, cuts a torn tail off the newest, and
// rebuilds the streams. opt.Sync must be running
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
	if opt.OnJournal != nil && opt.JournalSafe == nil {
		// An indexed segment's journal entries are not handed back.
		return nil, errors.New("store: OnJournal needs JournalSafe")
	}
	s := &Store{opt: opt, fs: opt.FS, group: opt.Sync, streams: map[Key]*stream{}, hosts: map[string]*hostUsage{},
		idxWake: make(chan struct{}, 1), idxStop: make(chan struct{}), idxDone: make(chan struct{})}
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
	if opt.JournalSafe == nil {
		s.StartIndexer()
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
	seg := &segment{seq: seq, name: name, f: f, touched: map[*stream]struct{}{}}
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
	seg, err := s.newSegment(old.seq + 1)
	if err == nil {
		s.wakeIndexer()
	}
	return seg, err
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
	s.sealForClose()
	s.stopIndexer(true)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if n := len(s.segs); n > 0 {
		err = s.segs[n-1].f.Sync()
	}
	s.closeFiles()
	return err
}

// sealForClose seals the active segment, so the indexer's last pass
// indexes it and a clean restart reads no segment whole. Each restart
// leaves one segment shorter than the rest, which costs nothing.
func (s *Store) sealForClose() {
	if !s.idxRunning || s.group.Err() != nil {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	active := s.segs[len(s.segs)-1]
	s.mu.RUnlock()
	if active.size == 0 {
		return
	}
	if _, err := s.rotate(active); err != nil {
		s.opt.Log.Warn("could not seal the active segment at close; the next start reads it whole", "err", err)
	}
}

func (s *Store) closeFiles() {
	for _, seg := range s.segs {
		seg.close()
	}
}

func (seg *segment) close() {
	seg.f.Close()
	seg.ixMu.Lock()
	if seg.ix != nil {
		seg.ix.Close()
		seg.ix = nil
	}
	seg.ixMu.Unlock()
	seg.fltMu.Lock()
	seg.closeFilters()
	seg.filtered = false // a search that listed it must not open its filters again
	seg.fltMu.Unlock()
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

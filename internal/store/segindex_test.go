package store

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/testseed"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/vfs/crashfs"
)

// model is what the hosts sent: each stream's bytes and when each append
// was stored.
type model struct {
	data  map[Key][]byte
	times map[Key][]stamp
	gen   map[Key]string // the last append's generation
}

type stamp struct {
	off int64
	at  time.Time
}

func newModel() *model {
	return &model{data: map[Key][]byte{}, times: map[Key][]stamp{}, gen: map[Key]string{}}
}

// offsetAt is the offset of the first byte appended at or after at.
func (m *model) offsetAt(k Key, at time.Time) int64 {
	for _, st := range m.times[k] {
		if !st.at.Before(at) {
			return st.off
		}
	}
	return int64(len(m.data[k]))
}

// fillStore appends n random records to streams keys at a clock that moves
// a minute per append, and records them in m.
func fillStore(t *testing.T, s *Store, m *model, keys []Key, n int, rng *rand.Rand, now *time.Time) {
	t.Helper()
	for range n {
		k := keys[rng.IntN(len(keys))]
		size := 1 + rng.IntN(400)
		if rng.IntN(10) == 0 {
			size = splitWrite + rng.IntN(4000)
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		off := int64(len(m.data[k]))
		*now = now.Add(time.Minute)
		gen := Gen{ID: fmt.Sprintf("g%d", off/5000), Start: off / 5000 * 5000}
		mustAppend(t, s, k, off, gen, string(b))
		m.gen[k] = gen.ID
		m.data[k] = append(m.data[k], b...)
		m.times[k] = append(m.times[k], stamp{off, *now})
	}
}

// checkModel reads every stream whole and in random pieces, and asks for
// offsets by time, against the model.
func checkModel(t *testing.T, s *Store, m *model, rng *rand.Rand) {
	t.Helper()
	for k, want := range m.data {
		got, info, err := s.Read(t.Context(), k, 0, len(want)+10)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes, %v; want the %d bytes sent", k, len(got), err, len(want))
		}
		if info.Length != int64(len(want)) || info.Gen != m.gen[k] {
			t.Fatalf("%s: info %+v; want length %d and the last append's generation", k, info, len(want))
		}
		for range 20 {
			off := rng.Int64N(int64(len(want)))
			n := 1 + rng.IntN(3000)
			got, _, err := s.Read(t.Context(), k, off, n)
			end := min(off+int64(n), int64(len(want)))
			if err != nil || !bytes.Equal(got, want[off:end]) {
				t.Fatalf("%s: read [%d,%d): %v, or the bytes differ", k, off, end, err)
			}
		}
		ts := m.times[k]
		for _, at := range []time.Time{ts[0].at.Add(-time.Hour), ts[0].at, ts[len(ts)/2].at, ts[len(ts)/2].at.Add(-30 * time.Second), ts[len(ts)-1].at, ts[len(ts)-1].at.Add(time.Second)} {
			if got, err := s.OffsetAt(t.Context(), k, at); err != nil || got != m.offsetAt(k, at) {
				t.Fatalf("%s: OffsetAt(%s) = %d, %v; want %d", k, at.Format(time.TimeOnly), got, err, m.offsetAt(k, at))
			}
		}
	}
}

// heldExtents counts the per-append extents the store keeps in memory, and
// the appends it remembers as not yet known durable.
func heldExtents(s *Store) (ext, unsynced int) {
	for _, st := range s.allStreams() {
		st.mu.Lock()
		ext += len(st.ext)
		unsynced += len(st.unsynced)
		st.mu.Unlock()
	}
	return ext, unsynced
}

// TestIndexedSegmentsServeReads: once sealed segments are indexed, reads,
// offsets by time and generations come from their index files, the same as
// before; memory keeps extents only for the active segment; and a restart
// gives the same answers.
func TestIndexedSegmentsServeReads(t *testing.T) {
	seed := testseed.Get(t)
	for _, segSize := range []int64{2048, 16 << 10, 256 << 10} {
		t.Run(fmt.Sprint(segSize), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(segSize)))
			now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
			s := newTestStore(t, Options{SegmentSize: segSize, Now: func() time.Time { return now }})
			keys := []Key{{"lab-1", "syslog"}, {"lab-1", "auth.log"}, {"lab-2", "syslog"}, {"lab-3", "app.log"}}
			m := newModel()
			fillStore(t, s, m, keys, 300, rng, &now)
			if err := s.indexSealed(); err != nil {
				t.Fatal(err)
			}
			held, unsynced := heldExtents(s)
			if active := recordsInActive(t, s); held > active || unsynced > len(keys) {
				t.Fatalf("%d extents and %d pending appends held in memory; want at most the active segment's %d and one per stream", held, unsynced, active)
			}
			checkModel(t, s, m, rng)
			s = reopen(t, s)
			checkModel(t, s, m, rng)
			fillStore(t, s, m, keys, 50, rng, &now) // appends go on after a restart
			checkModel(t, s, m, rng)
		})
	}
}

func recordsInActive(t *testing.T, s *Store) int {
	t.Helper()
	s.mu.RLock()
	seg := s.segs[len(s.segs)-1]
	s.mu.RUnlock()
	n := 0
	if _, err := scanSegment(seg.f, seg.size, false, func(*scanned) { n++ }); err != nil {
		t.Fatal(err)
	}
	return n
}

// countingFS counts the bytes read from segment files.
type countingFS struct {
	vfs.FS
	segBytes atomic.Int64
}

type countingFile struct {
	vfs.File
	n *atomic.Int64
}

func (c *countingFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, segSuffix) {
		return f, err
	}
	return countingFile{f, &c.segBytes}, nil
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

// TestCleanStartReadsNoSegment: Close seals and indexes the active
// segment, so a restart reads the index files' tables and no segment: it
// takes the same time whatever the store holds. Appends then go on.
func TestCleanStartReadsNoSegment(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	cfs := &countingFS{FS: vfs.OS{}}
	s := newTestStore(t, Options{FS: cfs, SegmentSize: 32 << 10, Now: func() time.Time { return now }})
	keys := []Key{{"lab-1", "syslog"}, {"lab-2", "syslog"}}
	m := newModel()
	fillStore(t, s, m, keys, 2000, rng, &now)
	s.mu.RLock()
	segs := len(s.segs)
	s.mu.RUnlock()
	s.Close()
	cfs.segBytes.Store(0)
	s = reopen(t, s)
	if read := cfs.segBytes.Load(); read > 0 || segs < 20 {
		t.Fatalf("start-up read %d bytes of %d segments; want none", read, segs)
	}
	checkModel(t, s, m, rng)
	fillStore(t, s, m, keys, 100, rng, &now)
	checkModel(t, reopen(t, s), m, rng)
}

// TestDamagedIndexIsRebuilt: an index file that is missing, torn, garbled or
// from another segment is not trusted: start-up reads its segment, says so,
// and writes it again. Damaged entries, found when a read first needs them,
// fail that read with what to do, never return other bytes.
func TestDamagedIndexIsRebuilt(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string, seq uint64)
		logs   string
	}{
		{"missing", func(t *testing.T, dir string, seq uint64) {
			must(t, os.Remove(filepath.Join(dir, idxName(seq))))
		}, ""},
		{"torn", func(t *testing.T, dir string, seq uint64) {
			must(t, os.Truncate(filepath.Join(dir, idxName(seq)), 100))
		}, "damaged"},
		{"table garbled", func(t *testing.T, dir string, seq uint64) {
			flipByte(t, filepath.Join(dir, idxName(seq)), idxHeaderSize+20)
		}, "damaged"},
		{"another segment's", func(t *testing.T, dir string, seq uint64) {
			b, err := os.ReadFile(filepath.Join(dir, idxName(seq-1)))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, idxName(seq)), b, 0o640))
		}, "damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, which := range []string{"middle", "last sealed"} {
				rng := rand.New(rand.NewPCG(3, 4))
				now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
				var logs bytes.Buffer
				opt := Options{SegmentSize: 8 << 10, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&logs, nil))}
				s := newTestStore(t, opt)
				m := newModel()
				fillStore(t, s, m, []Key{{"lab-1", "syslog"}, {"lab-2", "syslog"}}, 200, rng, &now)
				s.mu.RLock()
				last := s.segs[len(s.segs)-1].seq
				s.mu.RUnlock()
				s.Close()
				seq := last - 1
				if which == "middle" {
					seq = last / 2
				}
				c.damage(t, s.opt.Dir, seq)
				s = reopen(t, s)
				if !strings.Contains(logs.String(), c.logs) {
					t.Errorf("%s: the log does not say the index was %s:\n%s", which, c.logs, logs.String())
				}
				checkModel(t, s, m, rng)
				must(t, s.indexSealed())
				f, err := os.Open(filepath.Join(s.opt.Dir, idxName(seq)))
				must(t, err)
				if _, err := readIdxHead(osFile(f)); err != nil {
					t.Errorf("%s: the index was not written again: %v", which, err)
				}
				f.Close()
				s = reopen(t, s)
				checkModel(t, s, m, rng)
			}
		})
	}
	t.Run("entries garbled", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
		var logs bytes.Buffer
		s := newTestStore(t, Options{SegmentSize: 8 << 10, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		m := newModel()
		k := Key{"lab-1", "syslog"}
		fillStore(t, s, m, []Key{k, {"lab-2", "syslog"}}, 100, rng, &now)
		s.Close()
		name := filepath.Join(s.opt.Dir, idxName(1))
		info, err := os.Stat(name)
		must(t, err)
		flipByte(t, name, int(info.Size())-3) // in the last entry's length
		s = reopen(t, s)
		got, _, err := s.Read(t.Context(), k, 0, len(m.data[k]))
		if err == nil || !strings.Contains(err.Error(), "being rebuilt") {
			t.Fatalf("read through a garbled index = %d bytes, %v; want an error saying it is being rebuilt", len(got), err)
		}
		must(t, s.indexSealed())
		if !strings.Contains(logs.String(), "rebuilt a damaged segment index") {
			t.Errorf("the log does not say the index was rebuilt:\n%s", logs.String())
		}
		checkModel(t, s, m, rng)
		checkModel(t, reopen(t, s), m, rng)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, name string, at int) {
	t.Helper()
	b, err := os.ReadFile(name)
	must(t, err)
	b[at] ^= 0x5a
	must(t, os.WriteFile(name, b, 0o640))
}

func osFile(f *os.File) vfs.File {
	g, err := vfs.OS{}.OpenFile(f.Name(), os.O_RDONLY, 0)
	if err != nil {
		panic(err)
	}
	return g
}

// stepFS loses power before its n-th mutating operation (a write, sync,
// create, rename, remove or folder sync), then fails everything: the
// process that used it is gone.
type stepFS struct {
	*crashfs.FS
	n, ops atomic.Int64
	once   sync.Once
	mode   crashfs.Mode
}

var errGone = fmt.Errorf("the power went out")

func (s *stepFS) step() error {
	if s.ops.Add(1) >= s.n.Load() {
		s.once.Do(func() { s.FS.Crash(s.mode) })
		return errGone
	}
	return nil
}

func (s *stepFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		if err := s.step(); err != nil {
			return nil, err
		}
	}
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &stepFile{f, s}, nil
}

func (s *stepFS) Rename(a, b string) error {
	if err := s.step(); err != nil {
		return err
	}
	return s.FS.Rename(a, b)
}

func (s *stepFS) Remove(name string) error {
	if err := s.step(); err != nil {
		return err
	}
	return s.FS.Remove(name)
}

func (s *stepFS) SyncDir(dir string) error {
	if err := s.step(); err != nil {
		return err
	}
	return s.FS.SyncDir(dir)
}

type stepFile struct {
	vfs.File
	s *stepFS
}

func (f *stepFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.s.step(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *stepFile) Sync() error {
	if err := f.s.step(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *stepFile) Truncate(n int64) error {
	if err := f.s.step(); err != nil {
		return err
	}
	return f.File.Truncate(n)
}

// TestPowerLossWhileSealingAndIndexing loses power before every single file
// operation in turn of a run that seals segments and writes their index
// files, in each crash mode: every acknowledged byte must come back, from
// the index files or from the segments, and the next index pass must work.
func TestPowerLossWhileSealingAndIndexing(t *testing.T) {
	keys := []Key{{"lab-1", "syslog"}, {"lab-2", "syslog"}, {"lab-3", "auth.log"}}
	total := int64(1 << 30)
	for n := int64(1); n < total; n++ {
		mode := crashfs.Mode(n % 3)
		sfs := &stepFS{FS: crashfs.New(rand.New(rand.NewPCG(uint64(n), 9))), mode: mode}
		sfs.n.Store(n)
		acked := map[Key][]byte{}
		ops := runUntilGone(t, sfs, keys, acked)
		if ops < n {
			total = n // the run finished before its n-th operation: every point was tried
		}
		checkAfterPowerLoss(t, sfs.FS, keys, acked, fmt.Sprintf("power lost before operation %d (%s)", n, mode))
	}
	t.Logf("lost power at each of %d points", total-1)
	if total < 30 {
		t.Fatalf("only %d crash points; the run should seal and index several segments", total)
	}
}

// runUntilGone appends to keys, sealing segments and indexing them, until
// the file system is gone or the work is done, and returns how many file
// operations it made.
func runUntilGone(t *testing.T, sfs *stepFS, keys []Key, acked map[Key][]byte) int64 {
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { g.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	// With JournalSafe set, Open leaves indexing to the test's calls.
	s, err := Open(Options{Dir: "/d", FS: sfs, SegmentSize: 600, Sync: g, JournalSafe: func() (uint64, error) { return 0, nil }})
	if err != nil {
		return sfs.ops.Load()
	}
	defer s.Close()
	for i := range 24 {
		k := keys[i%len(keys)]
		data := bytes.Repeat([]byte{byte('a' + i)}, 100+i*7)
		if _, _, err := s.Append(ctx, k, int64(len(acked[k])), Gen{ID: "g"}, data); err != nil {
			return sfs.ops.Load()
		}
		acked[k] = append(acked[k], data...)
		if i%4 == 3 && s.indexSealed() != nil {
			return sfs.ops.Load()
		}
	}
	return sfs.ops.Load()
}

func checkAfterPowerLoss(t *testing.T, fsys *crashfs.FS, keys []Key, acked map[Key][]byte, what string) {
	t.Helper()
	for pass := range 2 {
		g := groupsync.New()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { g.Run(ctx) })
		s, err := Open(Options{Dir: "/d", FS: fsys, SegmentSize: 600, Sync: g, JournalSafe: func() (uint64, error) { return 0, nil }})
		if err != nil {
			t.Fatalf("%s: recovery (pass %d): %v", what, pass, err)
		}
		for _, k := range keys {
			if len(acked[k]) == 0 {
				continue
			}
			got, _, err := s.Read(t.Context(), k, 0, 1<<20)
			if err != nil || !bytes.HasPrefix(got, acked[k]) {
				t.Fatalf("%s: pass %d: %s holds %q, %v; want the %d acknowledged bytes first", what, pass, k, got, err, len(acked[k]))
			}
		}
		if err := s.indexSealed(); err != nil {
			t.Fatalf("%s: index after recovery: %v", what, err)
		}
		s.Close()
		cancel()
		wg.Wait()
	}
}

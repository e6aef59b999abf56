package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/cis490/cis490/internal/testseed"
	"github.com/cis490/cis490/internal/vfs"
)

var _ vfs.FS = (*FS)(nil)

// seed returns the seed for a randomised test and logs it for replay.
func seed(t *testing.T) uint64 { return testseed.Get(t) }

func newRand(s uint64) *rand.Rand { return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)) }

var allModes = []Mode{DropUnsynced, TearUnsynced, GarbageTail}

// create makes name with data, optionally syncing the file and its
// directory.
func create(t *testing.T, fsys *FS, name string, data []byte, syncFile, syncDir bool) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if syncDir {
		if err := fsys.SyncDir(filepath.Dir(name)); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func exists(t *testing.T, fsys vfs.FS, name string) bool {
	t.Helper()
	_, err := vfs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return true
}

// checkInvariants checks the bookkeeping behind incremental syncs: every
// file's current and durable contents agree up to its clean mark, and do
// not share memory.
func checkInvariants(t *testing.T, fsys *FS) {
	t.Helper()
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	for p, d := range fsys.dirs {
		for _, ents := range []map[string]*inode{d.cur, d.dur} {
			for name, ino := range ents {
				if ino.clean > len(ino.cur) || ino.clean > len(ino.dur) || !bytes.Equal(ino.cur[:ino.clean], ino.dur[:ino.clean]) {
					t.Fatalf("%s/%s: clean mark %d, current %d bytes, durable %d bytes, prefixes differ or too short",
						p, name, ino.clean, len(ino.cur), len(ino.dur))
				}
				if cap(ino.cur) > 0 && cap(ino.dur) > 0 && &ino.cur[:cap(ino.cur)][cap(ino.cur)-1] == &ino.dur[:cap(ino.dur)][cap(ino.dur)-1] {
					t.Fatalf("%s/%s: current and durable share memory", p, name)
				}
			}
		}
	}
}

func pattern(n int, tag byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag + byte(i%7)
	}
	return b
}

// The same seed and the same operations give the same outcome.
func TestDeterministic(t *testing.T) {
	s := seed(t)
	run := func() []map[string][]byte {
		r := newRand(s)
		fsys := New(newRand(s + 1))
		fsys.MkdirAll("d", 0o755)
		var snaps []map[string][]byte
		for i := range 300 {
			name := fmt.Sprintf("d/f%d", r.IntN(4))
			f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if r.IntN(4) == 0 {
				fsys.FailAfter(1+r.IntN(3), syscall.EIO)
			}
			f.WriteAt(pattern(r.IntN(1500), byte(i)), int64(r.IntN(1200)))
			if r.IntN(3) == 0 {
				f.Sync()
			}
			if r.IntN(3) == 0 {
				fsys.SyncDir("d")
			}
			if r.IntN(5) == 0 {
				f.Truncate(int64(r.IntN(2000)))
			}
			checkInvariants(t, fsys)
			if r.IntN(10) == 0 {
				fsys.Crash(RandomMode(r))
				snaps = append(snaps, fsys.Files())
			}
		}
		fsys.Crash(RandomMode(r))
		return append(snaps, fsys.Files())
	}
	a, b := run(), run()
	if !slices.EqualFunc(a, b, func(x, y map[string][]byte) bool { return maps.EqualFunc(x, y, bytes.Equal) }) {
		t.Fatal("two runs with the same seed differ")
	}
}

func TestConcurrent(t *testing.T) {
	fsys := New(newRand(seed(t)))
	fsys.MkdirAll("d", 0o755)
	shared, _ := fsys.OpenFile("d/shared", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("d/f%d", g)
			f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			buf := make([]byte, 10)
			for i := range 200 {
				f.Write([]byte("0123456789"))
				shared.Write([]byte("x"))
				f.ReadAt(buf, int64(i*10))
				if i%50 == 0 {
					f.Sync()
					fsys.SyncDir("d")
				}
				fsys.ReadDir("d")
				fsys.Files()
			}
			f.Close()
		})
	}
	wg.Wait()
	if n, _ := shared.Size(); n != 8*200 {
		t.Errorf("shared appends: %d bytes, want %d", n, 8*200)
	}
	for g := range 8 {
		if got := readFile(t, fsys, fmt.Sprintf("d/f%d", g)); len(got) != 2000 {
			t.Errorf("f%d: %d bytes", g, len(got))
		}
	}
}

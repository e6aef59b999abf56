package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/cis490/cis490/internal/vfs"
)

// WriteFileAtomic with each of its mutating operations failing in turn,
// then a crash: the file must hold the old contents or the new, and the new
// if WriteFileAtomic returned nil.
func TestWriteFileAtomicFailAfter(t *testing.T) {
	r := newRand(seed(t))
	old, new := pattern(900, 'o'), pattern(1300, 'n')
	for range 30 {
		for _, mode := range allModes {
			for _, hadOld := range []bool{true, false} {
				n := 1
				for ; ; n++ {
					fsys := New(newRand(r.Uint64()))
					fsys.MkdirAll("db", 0o755)
					if hadOld {
						if err := vfs.WriteFileAtomic(fsys, "db/meta", old, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					fsys.FailAfter(n, syscall.EIO)
					err := vfs.WriteFileAtomic(fsys, "db/meta", new, 0o644)
					if err != nil && !errors.Is(err, syscall.EIO) {
						t.Fatalf("fault %d: unexpected error %v", n, err)
					}
					fsys.Crash(mode)
					checkOldOrNew(t, fsys, "db/meta", old, new, hadOld, err == nil, fmt.Sprintf("fault at op %d, %v", n, mode))
					if err == nil {
						break
					}
				}
				// WriteAt, Sync, Rename, SyncDir: four ops can fail.
				if n != 5 {
					t.Fatalf("WriteFileAtomic succeeded only with the fault at op %d; want 5", n)
				}
			}
		}
	}
}

func checkOldOrNew(t *testing.T, fsys vfs.FS, name string, old, new []byte, hadOld, succeeded bool, what string) {
	t.Helper()
	got, err := vfs.ReadFile(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if hadOld || succeeded {
			t.Fatalf("%s: %s is gone", what, name)
		}
	case err != nil:
		t.Fatalf("%s: %v", what, err)
	case bytes.Equal(got, new):
	case bytes.Equal(got, old) && hadOld && !succeeded:
	default:
		t.Fatalf("%s: %s holds %d bytes, neither old (%d) nor new (%d)", what, name, len(got), len(old), len(new))
	}
}

var errPowerLost = errors.New("power lost")

// stepFS crashes the FS just before its step-th operation (counting every
// FS and File call) and fails that operation and all later ones.
type stepFS struct {
	*FS
	mode    Mode
	step, n int
	dead    bool
}

func (s *stepFS) tick() error {
	if s.dead {
		return errPowerLost
	}
	s.n++
	if s.n == s.step {
		s.FS.Crash(s.mode)
		s.dead = true
		return errPowerLost
	}
	return nil
}

func (s *stepFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if err := s.tick(); err != nil {
		return nil, err
	}
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return stepFile{f, s}, nil
}

func (s *stepFS) Rename(o, n string) error {
	if err := s.tick(); err != nil {
		return err
	}
	return s.FS.Rename(o, n)
}

func (s *stepFS) SyncDir(d string) error {
	if err := s.tick(); err != nil {
		return err
	}
	return s.FS.SyncDir(d)
}

type stepFile struct {
	vfs.File
	s *stepFS
}

func (f stepFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.s.tick(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f stepFile) Write(p []byte) (int, error) {
	if err := f.s.tick(); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f stepFile) Sync() error {
	if err := f.s.tick(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f stepFile) Close() error {
	if err := f.s.tick(); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}

// WriteFileAtomic with power lost before each of its operations in turn
// (open, write, sync, close, rename, syncdir), and after the last.
func TestWriteFileAtomicCrashAtEveryStep(t *testing.T) {
	r := newRand(seed(t))
	old, new := pattern(700, 'o'), pattern(2500, 'n')
	for range 30 {
		for _, mode := range allModes {
			for _, hadOld := range []bool{true, false} {
				step := 1
				for ; ; step++ {
					fsys := New(newRand(r.Uint64()))
					fsys.MkdirAll("db", 0o755)
					if hadOld {
						if err := vfs.WriteFileAtomic(fsys, "db/meta", old, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					s := &stepFS{FS: fsys, mode: mode, step: step}
					err := vfs.WriteFileAtomic(s, "db/meta", new, 0o644)
					if err != nil && !errors.Is(err, errPowerLost) {
						t.Fatalf("step %d: %v", step, err)
					}
					if err == nil {
						fsys.Crash(mode)
					}
					checkOldOrNew(t, fsys, "db/meta", old, new, hadOld, err == nil, fmt.Sprintf("crash before op %d, %v", step, mode))
					if err == nil {
						break
					}
				}
				if step != 7 {
					t.Fatalf("WriteFileAtomic made %d operations, want 6", step-1)
				}
			}
		}
	}
}

// The layer catches what a SIGKILL cannot: an "atomic" write that skips the
// file sync loses the data, and one that skips SyncDir loses the rename.
func TestCatchesMissingSyncs(t *testing.T) {
	old, new := []byte("old contents"), []byte("new contents")

	fsys := New(newRand(1))
	create(t, fsys, "meta", old, true, true)
	create(t, fsys, "meta.tmp", new, false, false) // no file sync
	fsys.Rename("meta.tmp", "meta")
	fsys.SyncDir(".")
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "meta"); len(got) != 0 {
		t.Errorf("without the file sync: %q, want the empty file the rename made durable", got)
	}

	fsys = New(newRand(1))
	create(t, fsys, "meta", old, true, true)
	create(t, fsys, "meta.tmp", new, true, false)
	fsys.Rename("meta.tmp", "meta") // no SyncDir
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "meta"); !bytes.Equal(got, old) {
		t.Errorf("without SyncDir: %q, want the old contents", got)
	}
}

package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{DropUnsynced: "DropUnsynced", TearUnsynced: "TearUnsynced", GarbageTail: "GarbageTail", Mode(7): "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
	r := newRand(seed(t))
	seen := map[Mode]bool{}
	for range 300 {
		seen[RandomMode(r)] = true
	}
	if len(seen) != 3 {
		t.Errorf("RandomMode gave %v, want all three modes", slices.Collect(maps.Keys(seen)))
	}
}

func TestOpenFlags(t *testing.T) {
	fsys := New(newRand(1))
	var pe *fs.PathError

	_, err := fsys.OpenFile("missing", os.O_RDONLY, 0)
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" || pe.Path != "missing" {
		t.Fatalf("open missing: %#v, want *fs.PathError wrapping ErrNotExist", err)
	}
	if _, err := fsys.OpenFile("nodir/f", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in missing dir: %v, want ErrNotExist", err)
	}

	create(t, fsys, "f", []byte("hello"), false, false)
	if _, err := fsys.OpenFile("f", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) || !errors.As(err, &pe) {
		t.Fatalf("O_EXCL on existing: %v, want *fs.PathError wrapping ErrExist", err)
	}
	if _, err := fsys.OpenFile("g", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
		t.Fatalf("O_EXCL on new: %v", err)
	}
	if _, err := fsys.OpenFile("f/x", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("create under a file: %v, want ENOTDIR", err)
	}
	if _, err := fsys.OpenFile(".", os.O_RDONLY, 0); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("open a directory: %v, want EISDIR", err)
	}

	// O_RDONLY: reads work, writes fail and change nothing.
	ro, err := fsys.OpenFile("f", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Write([]byte("x")); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Write on O_RDONLY: %v, want EBADF", err)
	}
	if _, err := ro.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("WriteAt on O_RDONLY: %v, want EBADF", err)
	}
	if err := ro.Truncate(0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Truncate on O_RDONLY: %v, want EINVAL", err)
	}
	if err := ro.Sync(); err != nil {
		t.Errorf("Sync on O_RDONLY: %v", err)
	}
	buf := make([]byte, 5)
	if n, err := ro.ReadAt(buf, 0); n != 5 || err != nil || string(buf) != "hello" {
		t.Errorf("ReadAt = %d, %v, %q", n, err, buf)
	}
	ro.Close()

	// O_WRONLY: reads fail.
	wo, err := fsys.OpenFile("f", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wo.ReadAt(buf, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("ReadAt on O_WRONLY: %v, want EBADF", err)
	}
	// Write goes at the handle's offset, starting at 0.
	if _, err := wo.Write([]byte("J")); err != nil {
		t.Fatal(err)
	}
	if _, err := wo.Write([]byte("E")); err != nil {
		t.Fatal(err)
	}
	wo.Close()
	if got := readFile(t, fsys, "f"); string(got) != "JEllo" {
		t.Errorf("after Writes at offset: %q, want %q", got, "JEllo")
	}

	// O_APPEND: Write appends even after another handle grew the file;
	// WriteAt is refused like os.File.
	ap, err := fsys.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	other.WriteAt([]byte("!!"), 5)
	if _, err := ap.Write([]byte("+")); err != nil {
		t.Fatal(err)
	}
	if _, err := ap.WriteAt([]byte("x"), 0); err == nil {
		t.Error("WriteAt on O_APPEND succeeded")
	}
	ap.Close()
	other.Close()
	if got := readFile(t, fsys, "f"); string(got) != "JEllo!!+" {
		t.Errorf("after append: %q", got)
	}

	// O_TRUNC.
	tr, err := fsys.OpenFile("f", os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tr.Size(); n != 0 || err != nil {
		t.Errorf("Size after O_TRUNC = %d, %v", n, err)
	}
	tr.Close()
}

func TestReadWriteTruncate(t *testing.T) {
	fsys := New(newRand(1))
	f, err := fsys.OpenFile("/data", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("abc"), 5); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Size(); n != 8 {
		t.Fatalf("Size = %d, want 8", n)
	}
	buf := make([]byte, 10)
	n, err := f.ReadAt(buf, 0)
	if n != 8 || err != io.EOF || !bytes.Equal(buf[:n], []byte("\x00\x00\x00\x00\x00abc")) {
		t.Fatalf("ReadAt = %d, %v, %q; want 8, EOF, zero gap then abc", n, err, buf[:n])
	}
	if n, err := f.ReadAt(buf, 8); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at end = %d, %v; want 0, EOF", n, err)
	}
	if n, err := f.ReadAt(buf[:0], 100); n != 0 || err != nil {
		t.Errorf("empty ReadAt past end = %d, %v; want 0, nil", n, err)
	}
	if _, err := f.ReadAt(buf, -1); err == nil {
		t.Error("ReadAt at negative offset succeeded")
	}
	if _, err := f.WriteAt(buf, -1); err == nil {
		t.Error("WriteAt at negative offset succeeded")
	}
	if err := f.Truncate(-1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Truncate(-1): %v, want EINVAL", err)
	}
	if err := f.Truncate(6); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(9); err != nil {
		t.Fatal(err)
	}
	n, _ = f.ReadAt(buf, 0)
	if !bytes.Equal(buf[:n], []byte("\x00\x00\x00\x00\x00a\x00\x00\x00")) {
		t.Errorf("after shrink and grow: %q, want zeros where the cut bytes were", buf[:n])
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Every operation on a closed handle fails with ErrClosed.
	for _, op := range fileOps(f) {
		if err := op.call(); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("%s on closed file: %v, want ErrClosed", op.name, err)
		}
	}
}

type namedOp struct {
	name string
	call func() error
}

// fileOps returns a call of each File method, Close last, for checking
// their errors.
func fileOps(f vfs.File) []namedOp {
	buf := make([]byte, 4)
	return []namedOp{
		{"Write", func() error { _, err := f.Write(buf); return err }},
		{"WriteAt", func() error { _, err := f.WriteAt(buf, 0); return err }},
		{"ReadAt", func() error { _, err := f.ReadAt(buf, 0); return err }},
		{"Sync", f.Sync},
		{"Truncate", func() error { return f.Truncate(0) }},
		{"Size", func() error { _, err := f.Size(); return err }},
		{"Close", f.Close},
	}
}

func TestDirectories(t *testing.T) {
	fsys := New(newRand(1))
	if err := fsys.MkdirAll("a/b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("a/b", 0o755); err != nil {
		t.Fatalf("MkdirAll on existing: %v", err)
	}
	if err := fsys.MkdirAll("/srv/db", 0o755); err != nil {
		t.Fatal(err)
	}
	create(t, fsys, "a/z", nil, false, false)
	create(t, fsys, "a/./b/../f", []byte("x"), false, false) // cleaned to a/f
	create(t, fsys, "/srv/db/log", []byte("y"), false, false)

	for dir, want := range map[string][]string{
		".":       {"a"},
		"a":       {"b", "f", "z"},
		"a/b/":    {"c"},
		"a/b/c":   {},
		"/":       {"srv"},
		"/srv/db": {"log"},
	} {
		got, err := fsys.ReadDir(dir)
		if err != nil || !slices.Equal(got, want) || got == nil {
			t.Errorf("ReadDir(%q) = %q, %v; want %q", dir, got, err, want)
		}
	}
	if _, err := fsys.ReadDir("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(missing): %v, want ErrNotExist", err)
	}
	if _, err := fsys.ReadDir("a/f"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("ReadDir(file): %v, want ENOTDIR", err)
	}
	if err := fsys.MkdirAll("a/f/g", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll through a file: %v, want ENOTDIR", err)
	}
	if err := fsys.SyncDir("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir(missing): %v, want ErrNotExist", err)
	}

	want := map[string][]byte{"a/z": {}, "a/f": []byte("x"), "/srv/db/log": []byte("y")}
	if got := fsys.Files(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("Files() = %q, want %q", got, want)
	}

	// Remove: files, empty directories; not non-empty ones or roots.
	if err := fsys.Remove("a/b"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("Remove(non-empty dir): %v, want ENOTEMPTY", err)
	}
	if err := fsys.Remove("a/b/c"); err != nil {
		t.Errorf("Remove(empty dir): %v", err)
	}
	if err := fsys.Remove("a/z"); err != nil {
		t.Errorf("Remove(file): %v", err)
	}
	if err := fsys.Remove("a/z"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(removed): %v, want ErrNotExist", err)
	}
	if err := fsys.Remove("."); err == nil {
		t.Error("Remove(.) succeeded")
	}
	if got, _ := fsys.ReadDir("a"); !slices.Equal(got, []string{"b", "f"}) {
		t.Errorf("ReadDir(a) after removes = %q", got)
	}

	// Rename errors.
	if err := fsys.Rename("a/missing", "a/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename(missing): %v, want ErrNotExist", err)
	}
	if err := fsys.Rename("a/f", "nodir/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename into missing dir: %v, want ErrNotExist", err)
	}
	if err := fsys.Rename("a/f", "a/b"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Rename onto a dir: %v, want ErrExist (as os.Rename)", err)
	}
	if err := fsys.Rename("a/b", "a/q"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Rename of a dir: %v, want ErrUnsupported", err)
	}
	var le *os.LinkError
	if err := fsys.Rename("a/missing", "a/x"); !errors.As(err, &le) {
		t.Errorf("Rename error %T, want *os.LinkError", err)
	}
	if err := fsys.Rename("a/f", "a/f"); err != nil || string(readFile(t, fsys, "a/f")) != "x" {
		t.Errorf("Rename onto itself: %v", err)
	}
}

// An open handle keeps working on its file after the name goes, as on Unix.
func TestUnlinkedHandle(t *testing.T) {
	fsys := New(newRand(1))
	f, _ := fsys.OpenFile("f", os.O_RDWR|os.O_CREATE, 0o644)
	if err := fsys.Remove("f"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Size(); n != 3 {
		t.Errorf("Size = %d", n)
	}
	if exists(t, fsys, "f") {
		t.Error("removed file still has its name")
	}
}

func TestSyncedSurvivesEveryMode(t *testing.T) {
	r := newRand(seed(t))
	for _, mode := range allModes {
		for i := range 50 {
			fsys := New(newRand(r.Uint64()))
			fsys.MkdirAll("d", 0o755)
			data := pattern(r.IntN(3000), 'a')
			create(t, fsys, "d/f", data, true, true)
			fsys.Crash(mode)
			if got := readFile(t, fsys, "d/f"); !bytes.Equal(got, data) {
				t.Fatalf("%v #%d: synced file of %d bytes came back as %d bytes", mode, i, len(data), len(got))
			}
			// And a second crash with nothing written changes nothing.
			fsys.Crash(RandomMode(r))
			if got := readFile(t, fsys, "d/f"); !bytes.Equal(got, data) {
				t.Fatalf("%v #%d: second crash changed the file", mode, i)
			}
		}
	}
}

func TestUnsyncedDropped(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "f", []byte("synced"), true, true)
	f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	f.WriteAt([]byte("SYN"), 0)
	f.Write([]byte("more"))
	f.WriteAt([]byte("tail"), 100)
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "f"); string(got) != "synced" {
		t.Errorf("after DropUnsynced: %q, want %q", got, "synced")
	}

	// A file never synced comes back empty even though its name is durable.
	create(t, fsys, "g", []byte("never synced"), false, true)
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "g"); len(got) != 0 {
		t.Errorf("unsynced file after DropUnsynced: %q, want empty", got)
	}
}

func TestCreateWithoutSyncDirVanishes(t *testing.T) {
	for _, mode := range allModes {
		fsys := New(newRand(1))
		fsys.MkdirAll("d", 0o755)
		create(t, fsys, "d/kept", []byte("k"), true, true)
		create(t, fsys, "d/lost", []byte("l"), true, false)
		fsys.Crash(mode)
		if exists(t, fsys, "d/lost") {
			t.Errorf("%v: file created without SyncDir survived", mode)
		}
		if !exists(t, fsys, "d/kept") {
			t.Errorf("%v: file created with SyncDir was lost", mode)
		}
		if names, _ := fsys.ReadDir("d"); !slices.Equal(names, []string{"kept"}) {
			t.Errorf("%v: ReadDir = %q", mode, names)
		}
	}
	// SyncDir of another directory does not help.
	fsys := New(newRand(1))
	fsys.MkdirAll("d", 0o755)
	create(t, fsys, "d/f", []byte("x"), true, false)
	fsys.SyncDir(".")
	fsys.Crash(DropUnsynced)
	if exists(t, fsys, "d/f") {
		t.Error("SyncDir(.) made d/f durable")
	}
}

func TestRenameWithoutSyncDirReverts(t *testing.T) {
	for _, mode := range allModes {
		fsys := New(newRand(1))
		create(t, fsys, "a", []byte("A"), true, true)
		create(t, fsys, "b", []byte("B"), true, true)
		if err := fsys.Rename("a", "b"); err != nil {
			t.Fatal(err)
		}
		if exists(t, fsys, "a") || string(readFile(t, fsys, "b")) != "A" {
			t.Fatalf("%v: rename not visible before the crash", mode)
		}
		fsys.Crash(mode)
		if string(readFile(t, fsys, "a")) != "A" || string(readFile(t, fsys, "b")) != "B" {
			t.Errorf("%v: rename without SyncDir did not revert", mode)
		}

		fsys.Rename("a", "b")
		fsys.SyncDir(".")
		fsys.Crash(mode)
		if exists(t, fsys, "a") || string(readFile(t, fsys, "b")) != "A" {
			t.Errorf("%v: rename with SyncDir did not stick", mode)
		}
	}
}

func TestRemoveWithoutSyncDirReverts(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "f", []byte("F"), true, true)
	fsys.Remove("f")
	fsys.Crash(DropUnsynced)
	if string(readFile(t, fsys, "f")) != "F" {
		t.Error("remove without SyncDir did not revert")
	}
	fsys.Remove("f")
	fsys.SyncDir(".")
	fsys.Crash(DropUnsynced)
	if exists(t, fsys, "f") {
		t.Error("remove with SyncDir did not stick")
	}
}

// A directory replacing a durably named but removed file is durable, so the
// file does not come back inside it.
func TestMkdirOverRemovedFile(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "x", []byte("F"), true, true)
	fsys.Remove("x")
	if err := fsys.MkdirAll("x", 0o755); err != nil {
		t.Fatal(err)
	}
	fsys.Crash(DropUnsynced)
	if names, _ := fsys.ReadDir("."); !slices.Equal(names, []string{"x"}) {
		t.Fatalf("ReadDir = %q", names)
	}
	if _, err := fsys.ReadDir("x"); err != nil {
		t.Errorf("x is not a directory after the crash: %v", err)
	}
}

// A rename across directories that only the target's SyncDir covered leaves
// the file under both names, as two independent files.
func TestCrossDirRenameHalfSynced(t *testing.T) {
	fsys := New(newRand(1))
	fsys.MkdirAll("x", 0o755)
	fsys.MkdirAll("y", 0o755)
	create(t, fsys, "x/f", []byte("F"), true, true)
	if err := fsys.Rename("x/f", "y/f"); err != nil {
		t.Fatal(err)
	}
	fsys.SyncDir("y")
	fsys.Crash(DropUnsynced)
	if string(readFile(t, fsys, "x/f")) != "F" || string(readFile(t, fsys, "y/f")) != "F" {
		t.Fatal("want the file under both names")
	}
	f, _ := fsys.OpenFile("x/f", os.O_RDWR, 0)
	f.WriteAt([]byte("G"), 0)
	f.Close()
	if string(readFile(t, fsys, "y/f")) != "F" {
		t.Error("the two names share data after the crash")
	}
}

func TestStaleHandle(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "f", []byte("x"), true, true)
	f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	fsys.Crash(DropUnsynced)
	for _, op := range fileOps(f) {
		err := op.call()
		var pe *fs.PathError
		if !errors.Is(err, ErrStaleHandle) || !errors.As(err, &pe) {
			t.Errorf("%s after Crash: %v, want *fs.PathError wrapping ErrStaleHandle", op.name, err)
		}
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	// New handles work.
	g, err := fsys.OpenFile("f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("y")); err != nil {
		t.Errorf("Write on new handle: %v", err)
	}
}

func TestTearUnsyncedTail(t *testing.T) {
	r := newRand(seed(t))
	durable := pattern(700, 'a')
	unsynced := pattern(2000, 'A')
	var partial, aligned, none, all int
	for range 300 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", durable, true, true)
		f, _ := fsys.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
		f.Write(unsynced)
		fsys.Crash(TearUnsynced)
		got := readFile(t, fsys, "f")
		if !bytes.HasPrefix(got, durable) {
			t.Fatal("durable prefix damaged")
		}
		tail := got[len(durable):]
		if !bytes.HasPrefix(unsynced, tail) {
			t.Fatalf("surviving tail of %d bytes is not a prefix of the unsynced data", len(tail))
		}
		switch len(tail) {
		case 0:
			none++
		case len(unsynced):
			all++
		default:
			partial++
			if len(got)%SectorSize == 0 {
				aligned++
			}
		}
	}
	t.Logf("tail survived: none %d, partially %d (%d up to a sector boundary), fully %d", none, partial, aligned, all)
	if none == 0 || partial == 0 || aligned == 0 || all == 0 {
		t.Error("want every kind of tear: none, partial, at a sector boundary, all")
	}
}

func TestTearUnsyncedOverwriteBySector(t *testing.T) {
	r := newRand(seed(t))
	const size = 3*SectorSize + 100
	old, new := bytes.Repeat([]byte("o"), size), bytes.Repeat([]byte("n"), size)
	seen := map[string]bool{}
	for range 200 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", old, true, true)
		f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
		f.WriteAt(new, 0)
		fsys.Crash(TearUnsynced)
		got := readFile(t, fsys, "f")
		if len(got) != size {
			t.Fatalf("size %d, want %d", len(got), size)
		}
		var shape []byte
		for s := 0; s < size; s += SectorSize {
			sec := got[s:min(s+SectorSize, size)]
			switch {
			case bytes.Equal(sec, old[:len(sec)]):
				shape = append(shape, 'o')
			case bytes.Equal(sec, new[:len(sec)]):
				shape = append(shape, 'n')
			default:
				t.Fatalf("sector at %d is a mix: %q", s, sec)
			}
		}
		seen[string(shape)] = true
	}
	if len(seen) < 8 {
		t.Errorf("saw only sector patterns %q; want a random subset of the 4 sectors to revert", slices.Sorted(maps.Keys(seen)))
	}

	// Unchanged sectors never change, even when a neighbour is rewritten.
	for range 50 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", old, true, true)
		f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
		f.WriteAt([]byte("n"), SectorSize+3)
		fsys.Crash(GarbageTail)
		got := readFile(t, fsys, "f")
		if !bytes.Equal(got[:SectorSize], old[:SectorSize]) || !bytes.Equal(got[2*SectorSize:], old[2*SectorSize:]) {
			t.Fatal("an untouched sector changed")
		}
	}
}

func TestUnsyncedShrink(t *testing.T) {
	r := newRand(seed(t))
	data := pattern(100, 'a')
	sizes := map[int]int{}
	for _, mode := range allModes {
		for range 50 {
			fsys := New(newRand(r.Uint64()))
			create(t, fsys, "f", data, true, true)
			f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
			f.Truncate(10)
			fsys.Crash(mode)
			got := readFile(t, fsys, "f")
			if !bytes.Equal(got, data[:len(got)]) || (len(got) != 10 && len(got) != 100) {
				t.Fatalf("%v: got %d bytes %q", mode, len(got), got)
			}
			if mode == DropUnsynced && len(got) != 100 {
				t.Fatal("DropUnsynced kept an unsynced truncate")
			}
			if mode == TearUnsynced {
				sizes[len(got)]++
			}
		}
	}
	if len(sizes) != 2 {
		t.Errorf("TearUnsynced sizes %v: want the truncate sometimes kept, sometimes not", sizes)
	}
}

func TestGarbageTail(t *testing.T) {
	r := newRand(seed(t))
	durable := pattern(300, 'a')
	unsynced := pattern(1500, 'A')
	garbled := 0
	for range 300 {
		fsys := New(newRand(r.Uint64()))
		create(t, fsys, "f", durable, true, true)
		f, _ := fsys.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
		f.Write(unsynced)
		fsys.Crash(GarbageTail)
		got := readFile(t, fsys, "f")
		if !bytes.HasPrefix(got, durable) {
			t.Fatal("durable prefix damaged")
		}
		if len(got) > len(durable)+len(unsynced) {
			t.Fatalf("file grew to %d", len(got))
		}
		if tail := got[len(durable):]; !bytes.HasPrefix(unsynced, tail) {
			garbled++
		}
	}
	t.Logf("%d of 300 tails garbled", garbled)
	if garbled == 0 {
		t.Error("GarbageTail never garbled the tail")
	}
}

// Random writes, truncates and syncs on one file against a model of its
// current and durable contents: DropUnsynced must restore exactly the
// durable model; the other modes may keep, sector by sector, either
// version of the overlap.
func TestSyncModel(t *testing.T) {
	r := newRand(seed(t))
	fsys := New(newRand(r.Uint64()))
	create(t, fsys, "f", nil, true, true)
	var cur, dur []byte
	f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	for step := range 3000 {
		switch op := r.IntN(10); {
		case op < 4:
			off, data := r.IntN(len(cur)+600), pattern(1+r.IntN(900), byte(step))
			if _, err := f.WriteAt(data, int64(off)); err != nil {
				t.Fatal(err)
			}
			if end := off + len(data); end > len(cur) {
				cur = append(cur, make([]byte, end-len(cur))...)
			}
			copy(cur[off:], data)
		case op < 5:
			size := r.IntN(len(cur) + 600)
			if err := f.Truncate(int64(size)); err != nil {
				t.Fatal(err)
			}
			if size < len(cur) {
				cur = cur[:size:size]
			} else {
				cur = append(cur, make([]byte, size-len(cur))...)
			}
		case op < 6:
			f.Close()
			f, _ = fsys.OpenFile("f", os.O_RDWR|os.O_TRUNC, 0)
			cur = nil
		case op < 8:
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			dur = bytes.Clone(cur)
		default:
			mode := RandomMode(r)
			fsys.Crash(mode)
			got := readFile(t, fsys, "f")
			if mode == DropUnsynced && !bytes.Equal(got, dur) {
				t.Fatalf("step %d: after DropUnsynced %d bytes, durable model %d bytes", step, len(got), len(dur))
			}
			for s := 0; s+SectorSize <= min(len(got), len(dur), len(cur)); s += SectorSize {
				sec := got[s : s+SectorSize]
				if !bytes.Equal(sec, dur[s:s+SectorSize]) && !bytes.Equal(sec, cur[s:s+SectorSize]) {
					t.Fatalf("step %d %v: sector at %d is neither durable nor current", step, mode, s)
				}
			}
			cur, dur = got, bytes.Clone(got)
			f, _ = fsys.OpenFile("f", os.O_RDWR, 0)
		}
		checkInvariants(t, fsys)
		if got := readFile(t, fsys, "f"); !bytes.Equal(got, cur) {
			t.Fatalf("step %d: current contents differ from the model", step)
		}
	}
}

// The store's pattern: appends, occasional syncs, crashes in random modes.
// After each crash the log must hold everything synced, and for
// DropUnsynced nothing more; for TearUnsynced nothing but a prefix of what
// was written.
func TestAppendLogCrashes(t *testing.T) {
	r := newRand(seed(t))
	fsys := New(newRand(r.Uint64()))
	fsys.MkdirAll("log", 0o755)
	var synced, written []byte
	created := false
	for round := range 200 {
		f, err := fsys.OpenFile("log/seg", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if !created {
			fsys.SyncDir("log")
			created = true
		}
		for range r.IntN(8) {
			rec := pattern(1+r.IntN(700), byte('a'+round%26))
			if _, err := f.Write(rec); err != nil {
				t.Fatal(err)
			}
			written = append(written, rec...)
			if r.IntN(3) == 0 {
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				synced = bytes.Clone(written)
			}
		}
		checkInvariants(t, fsys)
		mode := RandomMode(r)
		fsys.Crash(mode)
		checkInvariants(t, fsys)
		got := readFile(t, fsys, "log/seg")
		if !bytes.HasPrefix(got, synced) || len(got) > len(written) {
			t.Fatalf("round %d %v: %d bytes, synced %d, written %d", round, mode, len(got), len(synced), len(written))
		}
		switch mode {
		case DropUnsynced:
			if len(got) != len(synced) {
				t.Fatalf("round %d: DropUnsynced kept %d unsynced bytes", round, len(got)-len(synced))
			}
		case TearUnsynced:
			if !bytes.HasPrefix(written, got) {
				t.Fatalf("round %d: TearUnsynced result is not a prefix of what was written", round)
			}
		}
		// After the reboot everything on disk is durable.
		synced, written = got, bytes.Clone(got)
	}
}

// A model of names: every file's data is synced when created, so after a
// crash each directory must list exactly its durable names, each with the
// data of the file it durably named.
func TestDirectoryModel(t *testing.T) {
	r := newRand(seed(t))
	fsys := New(newRand(r.Uint64()))
	dirs := []string{"x", "y/z"}
	names := []string{"a", "b", "c"}
	type model struct{ cur, dur map[string]int } // name -> file id
	m := map[string]*model{}
	for _, d := range dirs {
		fsys.MkdirAll(d, 0o755)
		m[d] = &model{map[string]int{}, map[string]int{}}
	}
	content := func(id int) string { return fmt.Sprintf("file %d", id) }
	pick := func() (string, string) { return dirs[r.IntN(len(dirs))], names[r.IntN(len(names))] }
	next := 0
	check := func(step int, what string) {
		t.Helper()
		for _, d := range dirs {
			got, err := fsys.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if want := slices.Sorted(maps.Keys(m[d].cur)); !slices.Equal(got, want) {
				t.Fatalf("step %d (%s): ReadDir(%s) = %q, want %q", step, what, d, got, want)
			}
			for name, id := range m[d].cur {
				if got := string(readFile(t, fsys, filepath.Join(d, name))); got != content(id) {
					t.Fatalf("step %d (%s): %s/%s = %q, want %q", step, what, d, name, got, content(id))
				}
			}
		}
	}
	for step := range 2000 {
		var what string
		switch op := r.IntN(10); {
		case op < 3:
			d, n := pick()
			what = "create " + d + "/" + n
			next++
			// A fresh file: O_TRUNC on an existing name would rewrite the
			// file that other (durable) names may still refer to.
			fsys.Remove(filepath.Join(d, n))
			create(t, fsys, filepath.Join(d, n), []byte(content(next)), true, false)
			m[d].cur[n] = next
		case op < 5:
			od, on := pick()
			nd, nn := pick()
			what = "rename " + od + "/" + on + " " + nd + "/" + nn
			err := fsys.Rename(filepath.Join(od, on), filepath.Join(nd, nn))
			id, ok := m[od].cur[on]
			if ok != (err == nil) {
				t.Fatalf("step %d: %s: %v", step, what, err)
			}
			if ok {
				delete(m[od].cur, on)
				m[nd].cur[nn] = id
			}
		case op < 6:
			d, n := pick()
			what = "remove " + d + "/" + n
			err := fsys.Remove(filepath.Join(d, n))
			if _, ok := m[d].cur[n]; ok != (err == nil) {
				t.Fatalf("step %d: %s: %v", step, what, err)
			}
			delete(m[d].cur, n)
		case op < 8:
			d := dirs[r.IntN(len(dirs))]
			what = "syncdir " + d
			if err := fsys.SyncDir(d); err != nil {
				t.Fatal(err)
			}
			m[d].dur = maps.Clone(m[d].cur)
		case op < 9:
			mode := RandomMode(r)
			what = "crash " + mode.String()
			fsys.Crash(mode)
			for _, d := range dirs {
				m[d].cur = maps.Clone(m[d].dur)
			}
		default:
			what = "check"
		}
		check(step, what)
	}
}

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

func TestFailAfter(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "f", []byte("0123456789"), true, true)
	f, _ := fsys.OpenFile("f", os.O_RDWR, 0)
	ro, _ := fsys.OpenFile("f", os.O_RDONLY, 0)

	// Non-mutating operations, and operations that fail anyway, do not count.
	fsys.FailAfter(3, syscall.ENOSPC)
	buf := make([]byte, 4)
	f.ReadAt(buf, 0)
	f.Size()
	fsys.ReadDir(".")
	g, _ := fsys.OpenFile("g", os.O_RDWR|os.O_CREATE, 0o644)
	g.Close()
	fsys.Remove("g")
	fsys.MkdirAll("d", 0o755)
	ro.Write([]byte("x"))       // EBADF
	fsys.Rename("missing", "x") // ErrNotExist
	f.WriteAt([]byte("ab"), 0)  // 1
	f.Sync()                    // 2
	err := f.Truncate(2)        // 3: fails
	var pe *fs.PathError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) || pe.Op != "truncate" {
		t.Fatalf("third mutating op: %v, want *fs.PathError wrapping ENOSPC", err)
	}
	if n, _ := f.Size(); n != 10 {
		t.Errorf("failed Truncate changed the size to %d", n)
	}
	if err := f.Truncate(2); err != nil {
		t.Errorf("fault fired twice: %v", err)
	}

	// nil means EIO; n <= 0 disarms; Crash disarms.
	fsys.FailAfter(1, nil)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("FailAfter(1, nil): %v, want EIO", err)
	}
	fsys.FailAfter(1, syscall.EIO)
	fsys.FailAfter(0, nil)
	if err := f.Sync(); err != nil {
		t.Errorf("after FailAfter(0): %v", err)
	}
	fsys.FailAfter(1, syscall.EIO)
	fsys.Crash(DropUnsynced)
	if err := fsys.SyncDir("."); err != nil {
		t.Errorf("after Crash: %v", err)
	}
}

func TestFailAfterEffects(t *testing.T) {
	r := newRand(seed(t))

	// A failed write is a short write: a prefix lands, n says how much.
	short := 0
	for range 100 {
		fsys := New(newRand(r.Uint64()))
		f, _ := fsys.OpenFile("f", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		f.Write([]byte("head:"))
		data := pattern(1000, 'a')
		fsys.FailAfter(1, syscall.ENOSPC)
		n, err := f.Write(data)
		if !errors.Is(err, syscall.ENOSPC) || n >= len(data) {
			t.Fatalf("Write = %d, %v; want a short write and ENOSPC", n, err)
		}
		if n > 0 {
			short++
		}
		if got := readFile(t, fsys, "f"); !bytes.Equal(got, append([]byte("head:"), data[:n]...)) {
			t.Fatalf("after short write of %d: %d bytes", n, len(got))
		}
		// The offset moved by n: the next Write continues after the prefix.
		g, _ := fsys.OpenFile("g", os.O_RDWR|os.O_CREATE, 0o644)
		fsys.FailAfter(1, syscall.EIO)
		n, _ = g.Write(data)
		g.Write([]byte("!"))
		if got := readFile(t, fsys, "g"); !bytes.Equal(got, append(data[:n:n], '!')) {
			t.Fatalf("Write after a short write of %d did not continue at %d", n, n)
		}
	}
	if short == 0 {
		t.Error("a failed write never wrote a prefix")
	}

	// A failed Sync makes nothing durable.
	fsys := New(newRand(r.Uint64()))
	create(t, fsys, "f", []byte("v1"), true, true)
	f, _ := fsys.OpenFile("f", os.O_RDWR|os.O_TRUNC, 0)
	f.Write([]byte("v2"))
	fsys.FailAfter(1, syscall.EIO)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	fsys.Crash(DropUnsynced)
	if got := readFile(t, fsys, "f"); string(got) != "v1" {
		t.Errorf("failed Sync made %q durable", got)
	}

	// A failed Rename changes nothing; the error is an *os.LinkError.
	create(t, fsys, "g", []byte("g"), true, true)
	fsys.FailAfter(1, syscall.EIO)
	var le *os.LinkError
	if err := fsys.Rename("g", "h"); !errors.Is(err, syscall.EIO) || !errors.As(err, &le) {
		t.Errorf("Rename: %v, want *os.LinkError wrapping EIO", err)
	}
	if names, _ := fsys.ReadDir("."); !slices.Equal(names, []string{"f", "g"}) {
		t.Errorf("failed Rename changed the directory: %q", names)
	}

	// A failed SyncDir makes nothing durable.
	create(t, fsys, "new", []byte("n"), true, false)
	fsys.FailAfter(1, syscall.EIO)
	if err := fsys.SyncDir("."); !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	fsys.Crash(DropUnsynced)
	if exists(t, fsys, "new") {
		t.Error("failed SyncDir made a create durable")
	}
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

// Without crashes, crashfs behaves like the real file system: the same
// random operations on both give the same results and the same files.
func TestMatchesOS(t *testing.T) {
	r := newRand(seed(t))
	root := t.TempDir()
	osfs, mem := vfs.OS{}, New(newRand(r.Uint64()))
	for _, fsys := range []vfs.FS{osfs, mem} {
		if err := fsys.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"a", "b", "d/c", "d/e", "nodir/f"}
	dirs := []string{".", "d"}
	flags := []int{
		os.O_RDONLY, os.O_WRONLY, os.O_RDWR,
		os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
		os.O_RDWR | os.O_CREATE | os.O_EXCL, os.O_WRONLY | os.O_CREATE | os.O_APPEND,
		os.O_RDWR | os.O_APPEND, os.O_RDWR | os.O_TRUNC,
	}
	type pair struct{ os, mem vfs.File }
	var handles []pair
	path := func(n string) string { return filepath.Join(root, n) }
	for step := range 1500 {
		var what string
		var eo, em error
		var ro, rm any
		switch op := r.IntN(12); {
		case op < 2 || len(handles) == 0:
			n, fl := names[r.IntN(len(names))], flags[r.IntN(len(flags))]
			what = fmt.Sprintf("open %s %#x", n, fl)
			fo, e1 := osfs.OpenFile(path(n), fl, 0o644)
			fm, e2 := mem.OpenFile(path(n), fl, 0o644)
			eo, em = e1, e2
			if e1 == nil && e2 == nil {
				handles = append(handles, pair{fo, fm})
			} else {
				if e1 == nil {
					fo.Close()
				}
				if e2 == nil {
					fm.Close()
				}
			}
		case op < 9:
			i := r.IntN(len(handles))
			h := handles[i]
			switch r.IntN(7) {
			case 0:
				// Never empty: os.File skips its closed check for those.
				data := pattern(1+r.IntN(300), byte(step))
				what = "write"
				ro, eo = h.os.Write(data)
				rm, em = h.mem.Write(data)
			case 1:
				data, off := pattern(1+r.IntN(300), byte(step)), int64(r.IntN(1000))
				what = fmt.Sprintf("writeat %d", off)
				ro, eo = h.os.WriteAt(data, off)
				rm, em = h.mem.WriteAt(data, off)
			case 2:
				b1, off := make([]byte, 1+r.IntN(400)), int64(r.IntN(1200))
				b2 := make([]byte, len(b1))
				what = fmt.Sprintf("readat %d %d", len(b1), off)
				n1, e1 := h.os.ReadAt(b1, off)
				n2, e2 := h.mem.ReadAt(b2, off)
				ro, rm, eo, em = string(b1[:n1]), string(b2[:n2]), e1, e2
			case 3:
				size := int64(r.IntN(900))
				what = fmt.Sprintf("truncate %d", size)
				eo, em = h.os.Truncate(size), h.mem.Truncate(size)
			case 4:
				what = "size"
				ro, eo = h.os.Size()
				rm, em = h.mem.Size()
			case 5:
				what = "sync"
				eo, em = h.os.Sync(), h.mem.Sync()
				if errors.Is(em, fs.ErrClosed) && errors.Is(eo, syscall.EBADF) {
					eo = em // vfs.OS fdatasyncs a closed file's fd (-1): EBADF
				}
			case 6:
				what = "close"
				eo, em = h.os.Close(), h.mem.Close()
				if r.IntN(2) == 0 { // sometimes keep closed handles around
					handles = slices.Delete(handles, i, i+1)
				}
			}
		case op < 10:
			o, n := names[r.IntN(len(names))], names[r.IntN(len(names))]
			if r.IntN(5) == 0 {
				n = "d"
			}
			what = "rename " + o + " " + n
			eo, em = osfs.Rename(path(o), path(n)), mem.Rename(path(o), path(n))
		case op < 11:
			n := names[r.IntN(len(names))]
			what = "remove " + n
			eo, em = osfs.Remove(path(n)), mem.Remove(path(n))
		default:
			d := dirs[r.IntN(len(dirs))]
			what = "readdir " + d
			ro, eo = osfs.ReadDir(path(d))
			rm, em = mem.ReadDir(path(d))
		}
		if errClass(eo) != errClass(em) {
			t.Fatalf("step %d %s: os error %v, crashfs error %v", step, what, eo, em)
		}
		if fmt.Sprint(ro) != fmt.Sprint(rm) {
			t.Fatalf("step %d %s: os gave %v, crashfs gave %v", step, what, ro, rm)
		}
	}
	for _, h := range handles {
		h.os.Close()
		h.mem.Close()
	}
	for _, n := range names {
		bo, eo := vfs.ReadFile(osfs, path(n))
		bm, em := vfs.ReadFile(mem, path(n))
		if errClass(eo) != errClass(em) || !bytes.Equal(bo, bm) {
			t.Errorf("%s: os %d bytes (%v), crashfs %d bytes (%v)", n, len(bo), eo, len(bm), em)
		}
	}
}

func errClass(err error) string {
	for _, c := range []struct {
		target error
		name   string
	}{
		{fs.ErrNotExist, "not exist"}, {fs.ErrExist, "exist"}, {fs.ErrClosed, "closed"},
		{syscall.EBADF, "EBADF"}, {syscall.EINVAL, "EINVAL"}, {syscall.EISDIR, "EISDIR"},
		{syscall.ENOTDIR, "ENOTDIR"},
	} {
		if errors.Is(err, c.target) {
			return c.name
		}
	}
	switch err {
	case nil:
		return "nil"
	case io.EOF:
		return "EOF"
	}
	return "other"
}

func TestKillKeepsThePageCache(t *testing.T) {
	f := New(newRand(1))
	h, err := f.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.SyncDir("/")
	h.WriteAt([]byte("synced"), 0)
	h.Sync()
	h.WriteAt([]byte(" cached"), 6)
	f.Kill()
	if _, err := h.WriteAt([]byte("x"), 0); !errors.Is(err, ErrStaleHandle) {
		t.Fatalf("write after kill = %v; want ErrStaleHandle", err)
	}
	if got := string(f.Files()["/a"]); got != "synced cached" {
		t.Fatalf("after kill the file holds %q; the page cache keeps unsynced writes", got)
	}
	f.Crash(DropUnsynced)
	if got := string(f.Files()["/a"]); got != "synced" {
		t.Fatalf("after a later power loss the file holds %q; want only the synced part", got)
	}
}

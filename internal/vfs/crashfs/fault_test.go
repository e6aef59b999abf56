package crashfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"
)

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

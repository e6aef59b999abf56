package crashfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/cis490/cis490/internal/vfs"
)

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

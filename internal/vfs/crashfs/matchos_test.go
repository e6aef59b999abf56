package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/cis490/cis490/internal/vfs"
)

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

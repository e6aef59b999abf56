package crashfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/cis490/cis490/internal/vfs"
)

// dir is a directory's file entries. Subdirectories are not entries: they
// live in FS.dirs and are durable from creation.
type dir struct {
	cur, dur map[string]*inode
}

func newDir() *dir {
	return &dir{cur: map[string]*inode{}, dur: map[string]*inode{}}
}

// lookup finds the file named by the cleaned path name: its directory, its
// base name and its inode (nil if the directory has no such entry).
// If the parent directory does not exist, err is ErrNotExist or, when the
// parent is a file, ENOTDIR.
func (f *FS) lookup(name string) (d *dir, base string, ino *inode, err error) {
	parent, base := filepath.Dir(name), filepath.Base(name)
	d, ok := f.dirs[parent]
	if !ok {
		if f.isFile(parent) {
			return nil, "", nil, syscall.ENOTDIR
		}
		return nil, "", nil, fs.ErrNotExist
	}
	return d, base, d.cur[base], nil
}

// isFile reports whether the cleaned path p currently names a file.
func (f *FS) isFile(p string) bool {
	d, ok := f.dirs[filepath.Dir(p)]
	return ok && d.cur[filepath.Base(p)] != nil
}

// hasSubdir reports whether the directory p has a subdirectory.
func (f *FS) hasSubdir(p string) bool {
	for q := range f.dirs {
		if q != p && filepath.Dir(q) == p {
			return true
		}
	}
	return false
}

// accMode masks the access mode out of an open flag.
const accMode = os.O_RDONLY | os.O_WRONLY | os.O_RDWR

// OpenFile opens name with os.OpenFile's flag semantics: O_RDONLY, O_WRONLY
// and O_RDWR, O_CREATE, O_EXCL, O_TRUNC and O_APPEND; other flags and perm
// are ignored. Creating a file changes only the directory's current entries:
// it survives a Crash only after SyncDir on the directory.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.dirs[name]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	d, base, ino, err := f.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	acc := flag & accMode
	h := &file{
		fs:     f,
		name:   name,
		epoch:  f.epoch,
		read:   acc != os.O_WRONLY,
		write:  acc != os.O_RDONLY,
		append: flag&os.O_APPEND != 0,
	}
	switch {
	case ino != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case ino == nil:
		ino = &inode{}
		d.cur[base] = ino
	case flag&os.O_TRUNC != 0 && h.write:
		ino.dirty(0)
		ino.cur = nil
	}
	h.ino = ino
	return h, nil
}

// Rename renames the file oldname to newname, replacing any file there.
// It changes only the current entries of the two directories: it survives
// a Crash only after SyncDir on them. Directories cannot be renamed.
func (f *FS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	f.mu.Lock()
	defer f.mu.Unlock()
	lerr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if _, ok := f.dirs[oldname]; ok {
		return lerr(fmt.Errorf("crashfs: cannot rename a directory: %w", errors.ErrUnsupported))
	}
	od, obase, ino, err := f.lookup(oldname)
	if err != nil {
		return lerr(err)
	}
	if ino == nil {
		return lerr(fs.ErrNotExist)
	}
	if _, ok := f.dirs[newname]; ok {
		return lerr(syscall.EEXIST) // as os.Rename reports it
	}
	nd, nbase, _, err := f.lookup(newname)
	if err != nil {
		return lerr(err)
	}
	if err := f.fault(); err != nil {
		return lerr(err)
	}
	if oldname == newname {
		return nil
	}
	nd.cur[nbase] = ino
	delete(od.cur, obase)
	return nil
}

// Remove removes the file name, or the empty directory name. Removing a
// file changes only the directory's current entries (SyncDir makes it
// durable); removing a directory is durable at once.
func (f *FS) Remove(name string) error {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	perr := func(err error) error { return &fs.PathError{Op: "remove", Path: name, Err: err} }
	if d, ok := f.dirs[name]; ok {
		if filepath.Dir(name) == name {
			return perr(syscall.EBUSY) // "." or "/"
		}
		if len(d.cur) > 0 || f.hasSubdir(name) {
			return perr(syscall.ENOTEMPTY)
		}
		delete(f.dirs, name)
		return nil
	}
	d, base, ino, err := f.lookup(name)
	if err != nil {
		return perr(err)
	}
	if ino == nil {
		return perr(fs.ErrNotExist)
	}
	delete(d.cur, base)
	return nil
}

// MkdirAll creates dir and any missing parents; perm is ignored. New
// directories are durable at once, including their entries in their
// parents.
func (f *FS) MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, ok := f.dirs[p]; ok {
			break
		}
		if f.isFile(p) {
			return &fs.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p { // a root other than "/" (a volume name)
			break
		}
	}
	for _, p := range slices.Backward(missing) {
		if parent, ok := f.dirs[filepath.Dir(p)]; ok {
			// The durable directory replaces any durable-but-removed file
			// of the same name.
			delete(parent.dur, filepath.Base(p))
		}
		f.dirs[p] = newDir()
	}
	return nil
}

// ReadDir returns the sorted names of the files (current entries) and
// directories directly inside dir.
func (f *FS) ReadDir(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.lookupDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(d.cur))
	for name := range d.cur {
		names = append(names, name)
	}
	for p := range f.dirs {
		if p != dir && filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

// lookupDir returns the directory at the clean path p; the caller holds
// f.mu.
func (f *FS) lookupDir(p string) (*dir, error) {
	d, ok := f.dirs[p]
	if !ok {
		err := fs.ErrNotExist
		if f.isFile(p) {
			err = syscall.ENOTDIR
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return d, nil
}

// SyncDir makes dir's current entries durable: the creates, renames and
// removes in it so far survive a Crash.
func (f *FS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.lookupDir(dir)
	if err != nil {
		return err
	}
	if err := f.fault(); err != nil {
		return &fs.PathError{Op: "sync", Path: dir, Err: err}
	}
	d.dur = maps.Clone(d.cur)
	return nil
}

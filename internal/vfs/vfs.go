// Package vfs is the narrow file layer the store and the index write through,
// and the project's one copy of the file chores around it: atomic replace,
// directory sync, flock, ownership.
//
// Production code uses OS; crash tests use a layer that can forget whatever
// was not synced (see crashfs), because a killed process cannot lose the page
// cache and so cannot catch a missing fsync.
package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// File is an open file. Writes are not durable until Sync returns nil.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Sync makes the file's contents durable (fdatasync on Linux).
	Sync() error
	// Truncate cuts the file to size bytes.
	Truncate(size int64) error
	// Size reports the current size, durable or not.
	Size() (int64, error)
}

// FS is the set of file-system operations the storage code needs.
// A rename or a create is durable only after SyncDir on its directory.
type FS interface {
	// OpenFile opens name; flag and perm are as for os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	MkdirAll(dir string, perm fs.FileMode) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	// SyncDir makes creates, renames and removes in dir durable.
	SyncDir(dir string) error
}

// OS is the real file system.
type OS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (f osFile) Sync() error { return fdatasync(f.File) }

// OpenFile opens a real file.
func (OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Rename renames a real file.
func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Remove removes a real file.
func (OS) Remove(name string) error { return os.Remove(name) }

// MkdirAll creates a real directory tree.
func (OS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

// ReadDir lists a real directory.
func (OS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// SyncDir fsyncs a real directory.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteFileAtomic writes data to name so that a reader, or a crash, sees the
// old contents or the new, never a torn file: temp file, sync, rename, sync
// the directory. A real file gets exactly perm, whatever the umask (a key
// the shipper's group reads must be 0640 even under umask 077).
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	return WriteFileAtomicParts(fsys, name, perm, data)
}

// WriteFileAtomicParts is WriteFileAtomic of the parts one after another,
// without joining them in memory first.
func WriteFileAtomicParts(fsys FS, name string, perm fs.FileMode, parts ...[]byte) error {
	dir := filepath.Dir(name)
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	var at int64
	for _, p := range parts {
		if _, err := f.WriteAt(p, at); err != nil {
			f.Close()
			return err
		}
		at += int64(len(p))
	}
	if c, ok := f.(interface{ Chmod(fs.FileMode) error }); ok {
		if err := c.Chmod(perm); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

// Lock takes an exclusive flock on the file name (made with perm if
// missing) and returns its release: commands and timers that rewrite the
// same files from separate processes take turns.
func Lock(name string, perm fs.FileMode) (func(), error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// LockContext is Lock that gives up when ctx ends, and that blocks no
// thread while it waits: a blocking flock pins an OS thread per waiter,
// so many waiters (requests queued behind a slow lock holder) would grow
// the process by a thread each. It polls a non-blocking flock instead,
// backing off to pollMax between tries. Once taken, the lock file holds
// holder, so a waiter can say who it waits on (LockHolder).
func LockContext(ctx context.Context, name string, perm fs.FileMode, holder string) (func(), error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, pollMax)
	}
	// Best effort: the note only helps a waiter explain itself.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(holder), 0)
	}
	return func() {
		f.Truncate(0) // nobody holds it now
		f.Close()
	}, nil
}

// pollMax is the longest LockContext sleeps between tries: how late, at
// most, a waiter notices the lock came free.
const pollMax = 50 * time.Millisecond

// TryLock takes the lock file name for holder if it is free, or says who
// holds it.
func TryLock(name, holder string) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one try
	unlock, err := LockContext(ctx, name, 0o640, holder)
	if err != nil {
		who := LockHolder(name)
		if who == "" {
			who = "another process"
		}
		return nil, fmt.Errorf("%s holds %s: stop it first (systemctl stop cis490-receiver): %w", who, name, err)
	}
	return unlock, nil
}

// LockHolder is the note the lock file name's current holder left (see
// LockContext), empty when none.
func LockHolder(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// OwnLike gives paths the owner and group of dir when this runs as root
// and dir belongs to someone else: files an admin command or a root timer
// writes in the receiver's folder must stay the receiver's to read and
// write. Best effort: a path that does not exist is skipped.
func OwnLike(dir string, paths ...string) {
	if os.Geteuid() != 0 {
		return
	}
	info, err := os.Stat(dir)
	if err != nil {
		return
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	for _, p := range paths {
		os.Lchown(p, int(st.Uid), int(st.Gid))
	}
}

// ReadFile reads a whole file through fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

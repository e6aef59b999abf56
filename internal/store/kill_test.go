package store

import (
	"errors"
	"io/fs"
	"sync/atomic"

	"github.com/cis490/cis490/internal/vfs"
)

// errKilled is what a killed process's file operations "return": nothing
// they do reaches the file system any more, but what they wrote before stays
// in the page cache, synced or not.
var errKilled = errors.New("process killed")

// killFS wraps a file system so a test can kill the process using it.
type killFS struct {
	vfs.FS
	dead *atomic.Bool
}

type killFile struct {
	vfs.File
	dead *atomic.Bool
}

func (k killFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	f, err := k.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return killFile{f, k.dead}, nil
}

func (k killFS) Rename(a, b string) error { return k.do(func() error { return k.FS.Rename(a, b) }) }
func (k killFS) Remove(n string) error    { return k.do(func() error { return k.FS.Remove(n) }) }
func (k killFS) SyncDir(d string) error   { return k.do(func() error { return k.FS.SyncDir(d) }) }
func (k killFS) do(op func() error) error {
	if k.dead.Load() {
		return errKilled
	}
	return op()
}

func (f killFile) WriteAt(b []byte, off int64) (int, error) {
	if f.dead.Load() {
		return 0, errKilled
	}
	return f.File.WriteAt(b, off)
}

func (f killFile) Write(b []byte) (int, error) {
	if f.dead.Load() {
		return 0, errKilled
	}
	return f.File.Write(b)
}

func (f killFile) Sync() error {
	if f.dead.Load() {
		return errKilled
	}
	return f.File.Sync()
}

func (f killFile) Truncate(n int64) error {
	if f.dead.Load() {
		return errKilled
	}
	return f.File.Truncate(n)
}

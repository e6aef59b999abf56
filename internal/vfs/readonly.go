package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrReadOnly is a write through ReadOnly.
var ErrReadOnly = errors.New("read-only: this folder is only read")

// ReadOnly is FS that opens every file read-only and refuses every change:
// code that would modify the folder (a recovery cutting a torn tail)
// fails with ErrReadOnly instead, so a reader can promise it left the
// folder as it found it (cis490 migrate).
type ReadOnly struct{ FS FS }

func (r ReadOnly) fs() FS {
	if r.FS == nil {
		return OS{}
	}
	return r.FS
}

// OpenFile opens name for reading only; a flag that would create or
// truncate it is refused.
func (r ReadOnly) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, fmt.Errorf("open %s: %w", name, ErrReadOnly)
	}
	f, err := r.fs().OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return roFile{f, name}, nil
}

// Rename refuses.
func (ReadOnly) Rename(oldname, _ string) error {
	return fmt.Errorf("rename %s: %w", oldname, ErrReadOnly)
}

// Remove refuses.
func (ReadOnly) Remove(name string) error { return fmt.Errorf("remove %s: %w", name, ErrReadOnly) }

// MkdirAll succeeds only if dir exists.
func (r ReadOnly) MkdirAll(dir string, _ fs.FileMode) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	return fmt.Errorf("make folder %s: %w", dir, ErrReadOnly)
}

// ReadDir lists dir.
func (r ReadOnly) ReadDir(dir string) ([]string, error) { return r.fs().ReadDir(dir) }

// SyncDir does nothing: nothing was changed.
func (ReadOnly) SyncDir(string) error { return nil }

type roFile struct {
	File
	name string
}

func (f roFile) WriteAt([]byte, int64) (int, error) {
	return 0, fmt.Errorf("write %s: %w", f.name, ErrReadOnly)
}
func (f roFile) Write([]byte) (int, error) { return 0, fmt.Errorf("write %s: %w", f.name, ErrReadOnly) }
func (f roFile) Truncate(int64) error      { return fmt.Errorf("truncate %s: %w", f.name, ErrReadOnly) }

// Sync does nothing: nothing was written through f.
func (f roFile) Sync() error { return nil }

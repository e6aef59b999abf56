package crashfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"syscall"
)

// file is an open handle. Its fields other than fs and ino are guarded by
// fs.mu, like everything else.
type file struct {
	fs     *FS
	ino    *inode
	name   string
	epoch  uint64
	read   bool
	write  bool
	append bool
	off    int64 // where the next Write goes unless append
	closed bool
}

// check returns the error for op on h, if any. Callers hold h.fs.mu.
func (h *file) check(op string, needRead, needWrite bool) error {
	var err error
	switch {
	case h.closed:
		err = fs.ErrClosed
	case h.epoch != h.fs.epoch:
		err = ErrStaleHandle
	case needRead && !h.read, needWrite && !h.write:
		err = syscall.EBADF
	default:
		return nil
	}
	return &fs.PathError{Op: op, Path: h.name, Err: err}
}

// writeAt writes p at off into the current contents, honouring an injected
// fault by writing only a random prefix. Callers hold h.fs.mu.
func (h *file) writeAt(op string, p []byte, off int64) (int, error) {
	n, err := len(p), h.fs.fault()
	if err != nil {
		n = 0
		if len(p) > 0 {
			n = h.fs.r.IntN(len(p))
		}
		err = &fs.PathError{Op: op, Path: h.name, Err: err}
	}
	if n > 0 {
		h.ino.dirty(off)
		end := off + int64(n)
		if end > int64(len(h.ino.cur)) {
			h.ino.cur = append(h.ino.cur, make([]byte, end-int64(len(h.ino.cur)))...)
		}
		copy(h.ino.cur[off:end], p[:n])
	}
	return n, err
}

// Write writes p at the handle's offset, or at the end if it was opened with
// O_APPEND, and advances the offset.
func (h *file) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("write", false, true); err != nil {
		return 0, err
	}
	off := h.off
	if h.append {
		off = int64(len(h.ino.cur))
	}
	n, err := h.writeAt("write", p, off)
	h.off = off + int64(n)
	return n, err
}

// WriteAt writes p at off. Like os.File, it refuses a file opened with
// O_APPEND.
func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.append { // checked first, as os.File does
		return 0, errors.New("crashfs: invalid use of WriteAt on file opened with O_APPEND")
	}
	if err := h.check("write", false, true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: h.name, Err: errors.New("negative offset")}
	}
	return h.writeAt("write", p, off)
}

// ReadAt reads current contents at off; like os.File it returns io.EOF when
// it reads fewer than len(p) bytes because the file ends.
func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("read", true, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: h.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(h.ino.cur)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, h.ino.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Sync makes the file's current contents durable (not its name: that takes
// SyncDir).
func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("sync", false, false); err != nil {
		return err
	}
	if err := h.fs.fault(); err != nil {
		return &fs.PathError{Op: "sync", Path: h.name, Err: err}
	}
	ino := h.ino
	// dur[:clean] already equals cur[:clean]; dur is not shared, so it can
	// be extended in place.
	ino.dur = append(ino.dur[:ino.clean], ino.cur[ino.clean:]...)
	ino.clean = len(ino.cur)
	return nil
}

// Truncate changes the current size, cutting or zero-extending. Like Linux
// ftruncate it fails with EINVAL on a handle not open for writing.
func (h *file) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("truncate", false, false); err != nil {
		return err
	}
	if size < 0 || !h.write { // Linux ftruncate: EINVAL for both
		return &fs.PathError{Op: "truncate", Path: h.name, Err: syscall.EINVAL}
	}
	if err := h.fs.fault(); err != nil {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: err}
	}
	h.ino.dirty(size)
	cur := h.ino.cur
	if size <= int64(len(cur)) {
		// Copy so the bytes cut off can be freed.
		h.ino.cur = bytes.Clone(cur[:size])
	} else {
		h.ino.cur = append(cur, make([]byte, size-int64(len(cur)))...)
	}
	return nil
}

// Size reports the current size.
func (h *file) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("stat", false, false); err != nil {
		return 0, err
	}
	return int64(len(h.ino.cur)), nil
}

// Close closes the handle. Closing it again fails with fs.ErrClosed; closing
// a handle from before a crash fails with ErrStaleHandle (and closes it).
func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	err := h.check("close", false, false)
	h.closed = true
	return err
}

// Package crashfs is an in-memory vfs.FS that can lose power.
//
// Killing the process (SIGKILL) cannot catch a missing fsync: the page cache
// belongs to the kernel and survives the process, so every write the store
// made is still there when it restarts, synced or not. To check that the
// storage code syncs what it relies on, the same code also runs over this
// layer, which keeps two versions of everything:
//
//   - each file has current contents (what reads see) and durable contents
//     (what survives power loss); File.Sync copies current to durable;
//   - each directory has current entries (name to file) and durable entries;
//     creates, renames and removes change the current entries, and
//     FS.SyncDir makes them durable.
//
// FS.Crash simulates power loss and a reboot: directories revert to their
// durable entries, files to their durable contents plus, depending on the
// Mode, a torn or garbled piece of what was not synced. Handles opened
// before the crash stop working. FS.FailAfter injects an I/O error (ENOSPC,
// EIO, ...) into a later mutating operation so error paths can be tested.
//
// Directories are simpler than files: MkdirAll and removing an empty
// directory are durable at once, and directories cannot be renamed.
//
// All randomness comes from the *rand.Rand given to New, so a run is
// reproducible from its seed as long as the operations happen in the same
// order. An FS is safe for concurrent use.
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

	"github.com/cis490/cis490/internal/vfs"
)

var (
	_ vfs.FS   = (*FS)(nil)
	_ vfs.File = (*file)(nil)
)

// ErrStaleHandle is the error (wrapped in an *fs.PathError) from every
// operation on a File opened before the last Crash.
var ErrStaleHandle = errors.New("crashfs: file handle from before the crash")

// SectorSize is the unit in which an overwrite of already durable bytes
// survives or reverts in TearUnsynced and GarbageTail crashes.
const SectorSize = 512

// Mode says what a Crash does to data that was written but not synced.
type Mode int

const (
	// DropUnsynced loses every unsynced byte: files are exactly their
	// durable contents.
	DropUnsynced Mode = iota
	// TearUnsynced keeps a random prefix of the unsynced bytes written past
	// the durable length (none, all, up to a sector boundary or any length,
	// a quarter of the time each). Of the unsynced overwrites inside the
	// durable length, a random subset of the differing 512-byte sectors
	// reverts and the rest keep the new bytes. An unsynced shrink
	// (Truncate, O_TRUNC) may or may not persist.
	TearUnsynced
	// GarbageTail is TearUnsynced, but the surviving unsynced tail may also
	// have a run of up to a sector of zeros or random bytes written over it,
	// as from a torn sector or a size that reached the disk before the data.
	GarbageTail
)

var modeNames = [...]string{"DropUnsynced", "TearUnsynced", "GarbageTail"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// RandomMode returns one of the modes, uniformly.
func RandomMode(r *rand.Rand) Mode { return Mode(r.IntN(len(modeNames))) }

// inode is a file's data, shared by every handle and name that refer to it.
// cur and dur never share memory.
type inode struct {
	cur, dur []byte
	// clean is a length up to which cur and dur are known to be equal
	// (clean <= len(cur), len(dur)), so Sync copies and Crash compares only
	// what lies beyond it: an append-only file syncs in time proportional to
	// what was appended.
	clean int
}

// dirty records that cur changes from offset off on (a write at off, or a
// truncate to off). Callers hold the FS lock and call it before changing
// cur.
func (ino *inode) dirty(off int64) {
	ino.clean = int(min(int64(ino.clean), off, int64(len(ino.cur))))
}

// dir is a directory's file entries. Subdirectories are not entries: they
// live in FS.dirs and are durable from creation.
type dir struct {
	cur, dur map[string]*inode
}

func newDir() *dir {
	return &dir{cur: map[string]*inode{}, dur: map[string]*inode{}}
}

// FS is an in-memory file system with power-loss semantics. Create one with
// New.
type FS struct {
	mu    sync.Mutex
	r     *rand.Rand
	dirs  map[string]*dir // cleaned path -> directory; "." and "/" always exist
	epoch uint64          // incremented by Crash; handles remember theirs

	failIn  int // mutating ops until the injected fault fires; 0: none armed
	failErr error
}

// New returns an empty FS in which the directories "." and "/" exist. It
// draws all its randomness from r, which it uses under its own lock: the
// caller must not use r concurrently with the FS.
func New(r *rand.Rand) *FS {
	if r == nil {
		panic("crashfs: New with nil *rand.Rand")
	}
	return &FS{
		r:    r,
		dirs: map[string]*dir{".": newDir(), string(filepath.Separator): newDir()},
	}
}

// FailAfter arms a one-shot fault: the n-th mutating operation from now
// (n == 1 is the next one) fails with err, wrapped as os would wrap it
// (*fs.PathError, or *os.LinkError for Rename), so errors.Is(got, err) holds.
// The mutating operations are File.Write, File.WriteAt, File.Sync,
// File.Truncate, FS.Rename and FS.SyncDir; other operations neither count
// nor fail. A failing Write or WriteAt first writes a random prefix of its
// data (possibly none) and reports its length, like a short write; the other
// failing operations change nothing.
//
// A later FailAfter replaces an armed fault; n <= 0 disarms it. A nil err
// means syscall.EIO. Crash disarms any armed fault.
func (f *FS) FailAfter(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		f.failIn, f.failErr = 0, nil
		return
	}
	if err == nil {
		err = syscall.EIO
	}
	f.failIn, f.failErr = n, err
}

// fault counts one mutating operation and returns the injected error if it
// is the one that must fail. Callers hold f.mu and call it after validating
// their arguments, so an operation that fails anyway does not use it up.
func (f *FS) fault() error {
	if f.failIn == 0 {
		return nil
	}
	f.failIn--
	if f.failIn > 0 {
		return nil
	}
	err := f.failErr
	f.failErr = nil
	return err
}

// Crash simulates power loss followed by a reboot; see Mode for what happens
// to unsynced data. Every directory's entries revert to its durable entries;
// a file that no directory durably names is gone; each surviving name gets
// its own file whose contents are now all durable. Handles opened before the
// crash fail with ErrStaleHandle. An armed FailAfter fault is disarmed.
func (f *FS) Crash(mode Mode) {
	if mode < 0 || int(mode) >= len(modeNames) {
		panic(fmt.Sprintf("crashfs: Crash with unknown %v", mode))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch++
	f.failIn, f.failErr = 0, nil

	// Walk in a fixed order so the random draws, and so the outcome, depend
	// only on the seed and the operations.
	survived := map[*inode][]byte{}
	for _, p := range slices.Sorted(maps.Keys(f.dirs)) {
		d := f.dirs[p]
		ents := make(map[string]*inode, len(d.dur))
		for _, name := range slices.Sorted(maps.Keys(d.dur)) {
			old := d.dur[name]
			data, ok := survived[old]
			if !ok {
				data = f.survive(old, mode)
				survived[old] = data
			}
			// A file durably named twice (a rename across directories that
			// only one SyncDir covered) becomes two independent files.
			ents[name] = &inode{cur: bytes.Clone(data), dur: bytes.Clone(data), clean: len(data)}
		}
		d.cur = ents
		d.dur = maps.Clone(ents)
	}
}

// Kill simulates the death of the process using the file system, not of
// the machine: every open handle stops working, but everything written stays
// as it is, synced or not, the way the page cache outlives a killed process.
// A later Crash can still lose what was never synced.
func (f *FS) Kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch++
	f.failIn, f.failErr = 0, nil
}

// survive returns what is on disk for ino after power loss in mode.
func (f *FS) survive(ino *inode, mode Mode) []byte {
	cur, dur := ino.cur, ino.dur
	out := bytes.Clone(dur)
	if out == nil {
		out = []byte{}
	}
	if mode == DropUnsynced {
		return out
	}
	// Unsynced overwrites of durable bytes: each differing sector either
	// made it or did not.
	overlap := min(len(cur), len(dur))
	for s := ino.clean / SectorSize * SectorSize; s < overlap; s += SectorSize {
		e := min(s+SectorSize, overlap)
		if !bytes.Equal(cur[s:e], dur[s:e]) && f.r.IntN(2) == 0 {
			copy(out[s:e], cur[s:e])
		}
	}
	switch {
	case len(cur) < len(dur):
		// An unsynced shrink: the new size may have reached the disk.
		if f.r.IntN(2) == 0 {
			out = out[:len(cur)]
		}
	case len(cur) > len(dur):
		// The unsynced tail: a random prefix of it survives.
		tail := cur[len(dur):]
		n := f.tearLen(len(dur), len(cur))
		out = append(out, tail[:n]...)
		if mode == GarbageTail && n > 0 && f.r.IntN(2) == 0 {
			start := len(dur) + f.r.IntN(n)
			end := start + 1 + f.r.IntN(min(SectorSize, len(out)-start))
			if f.r.IntN(2) == 0 {
				clear(out[start:end])
			} else {
				for i := start; i < end; i++ {
					out[i] = byte(f.r.Uint32())
				}
			}
		}
	}
	return out
}

// tearLen picks how many of the unsynced bytes between offsets durable and
// current survive a crash: none, all, up to a sector boundary, or any number,
// each a quarter of the time (a uniform choice alone would almost never
// keep all or none).
func (f *FS) tearLen(durable, current int) int {
	n := current - durable
	switch f.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return n
	case 2:
		first := (durable + SectorSize - 1) / SectorSize // boundaries in [durable, current]
		last := current / SectorSize
		if first <= last {
			return (first+f.r.IntN(last-first+1))*SectorSize - durable
		}
	}
	return f.r.IntN(n + 1)
}

// Files returns the current contents of every file, keyed by cleaned path
// ("db/meta", "/srv/db/meta"; a file in "." is just its name). The slices
// are copies.
func (f *FS) Files() map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for p, d := range f.dirs {
		for name, ino := range d.cur {
			b := bytes.Clone(ino.cur)
			if b == nil {
				b = []byte{}
			}
			out[filepath.Join(p, name)] = b
		}
	}
	return out
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

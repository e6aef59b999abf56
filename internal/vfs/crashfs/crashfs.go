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
	"math/rand/v2"
	"path/filepath"
	"sync"

	"github.com/cis490/cis490/internal/vfs"
)

var (
	_ vfs.FS   = (*FS)(nil)
	_ vfs.File = (*file)(nil)
)

// ErrStaleHandle is the error (wrapped in an *fs.PathError) from every
// operation on a File opened before the last Crash.
var ErrStaleHandle = errors.New("crashfs: file handle from before the crash")

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

package index

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/vfs"
)

// Journal keeps index lines durable in a log that is synced anyway (the
// store's segments), so a request costs one sync, not one per file. The day
// files are then written through the page cache, synced at rotation and
// before the journal drops old entries, and repaired from the journal after
// a crash.
type Journal interface {
	Journal(seq uint64, payload []byte) (groupsync.Ticket, error)
}

// Writer appends lines to the day's file.
type Writer struct {
	dir   string
	fs    vfs.FS
	group *groupsync.Group
	log   *slog.Logger

	mu       sync.Mutex
	journal  Journal
	seq      uint64 // sequence number of the last line written
	base     uint64 // last line of the files before the newest (synced whole)
	day      string
	f        vfs.File
	size     int64
	buf      []byte
	enc      []byte
	pending  []entry  // journal entries recovery may need to replay
	mark     syncMark // how far the day files were known good at start
	last     groupsync.Ticket
	dirty    int64         // bytes written since the last Sync
	wantSync chan struct{} // Sync soon: recovery would replay much

	syncMu   sync.Mutex // one Sync at a time, so marks only move forward
	closeErr error      // Close could not sync: no line is vouched for since
}

// syncEvery is how many bytes of lines may be written between syncs before
// the writer asks for one (see SyncWanted): what a crash makes recovery
// keep from the journal stays small.
const syncEvery = 8 << 20

type entry struct {
	seq     uint64
	payload []byte
}

// OpenWriter opens the index folder for appending: it cuts a torn or
// garbled tail off the newest day file (a crash can leave one) and finds the
// last line's sequence number. Until Recover attaches a journal, every line
// is made durable by syncing the day file itself.
func OpenWriter(fsys vfs.FS, dir string, g *groupsync.Group, log *slog.Logger) (*Writer, error) {
	if fsys == nil {
		fsys = vfs.OS{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create index folder: %w", err)
	}
	w := &Writer{dir: dir, fs: fsys, group: g, log: log, wantSync: make(chan struct{}, 1)}
	files, err := Files(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("list index folder: %w", err)
	}
	w.mark = w.readMark(files)
	if len(files) > 0 {
		newest := files[len(files)-1]
		from, _ := w.mark.from(newest)
		if err := w.repairTail(newest, from); err != nil {
			return nil, err
		}
		w.day = newest // lines never go to an older file than this
	}
	if w.seq, err = w.lastSeqIn(files); err != nil {
		return nil, err
	}
	if len(files) > 0 {
		// The files before the newest were synced whole when it was made.
		if w.base, err = w.lastSeqIn(files[:len(files)-1]); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Write appends l and returns once it is durable.
func (w *Writer) Write(ctx context.Context, l Line) error {
	d, err := w.Begin(l)
	if err != nil {
		return err
	}
	return d(ctx)
}

// Begin appends l and returns the wait that makes it durable.
func (w *Writer) Begin(l Line) (groupsync.Durable, error) {
	t, err := w.Append(l)
	if err != nil {
		return nil, err
	}
	return w.group.Durable(t), nil
}

// Append appends l (numbering it) and returns the ticket that makes it
// durable: the answer to the request waits for it.
func (w *Writer) Append(l Line) (groupsync.Ticket, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l.Seq = w.seq + 1
	l.bound()
	w.enc = appendLine(w.enc[:0], &l)
	b := w.enc
	at, err := w.writeLine(l.TS, b)
	if err != nil {
		return 0, err
	}
	var t groupsync.Ticket
	if w.journal != nil {
		if t, err = w.journal.Journal(l.Seq, b); err != nil {
			// Keep the day file in step with the journal.
			if terr := w.f.Truncate(at); terr == nil {
				w.size = at
			}
			return 0, fmt.Errorf("journal index line: %w", err)
		}
	} else {
		t = w.group.Wrote(w.f)
	}
	w.seq, w.last = l.Seq, t
	if w.dirty += int64(len(b)) + 1; w.dirty > syncEvery {
		select {
		case w.wantSync <- struct{}{}:
		default:
		}
	}
	return t, nil
}

// writeLine appends b and a newline to the day file for ts, never to a day
// older than the current file, so file order stays sequence order, and
// returns where in the file the line begins. The caller holds w.mu.
func (w *Writer) writeLine(ts time.Time, b []byte) (int64, error) {
	name := FileName(ts)
	if name < w.day {
		name = w.day
	}
	if err := w.openDay(name); err != nil {
		return 0, err
	}
	at := w.size
	w.buf = append(append(w.buf[:0], b...), '\n')
	if _, err := w.f.WriteAt(w.buf, at); err != nil {
		_ = w.f.Truncate(at)
		return 0, fmt.Errorf("append index line: %w", err)
	}
	w.size += int64(len(w.buf))
	return at, nil
}

// openDay makes name the current file; the caller holds w.mu. The file
// rotated out is synced before the next one is created, so at any crash
// only the newest file can hold unsynced lines (the ones Recover checks).
func (w *Writer) openDay(name string) error {
	if w.f != nil && w.day == name {
		return nil
	}
	if w.f != nil {
		if err := w.group.Forget(w.f); err != nil {
			return err
		}
	}
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open index file: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return err
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("sync index folder: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.day, w.size = f, name, size
	return nil
}

// SyncWanted is signalled when many lines were written since the last
// Sync; the owner then calls Sync (it also does so on a timer).
func (w *Writer) SyncWanted() <-chan struct{} { return w.wantSync }

// Sync makes every line written so far durable in the day file and returns
// the last one's sequence number: entries up to it are no longer needed in
// the journal. Once the journal holds them too, it records how far the
// files are good (synced.json), so recovery after a crash starts there.
func (w *Writer) Sync() (uint64, error) {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if w.f == nil {
		defer w.mu.Unlock()
		return w.seq, w.closeErr // closed: Close synced, or failed to
	}
	if err := w.f.Sync(); err != nil {
		w.mu.Unlock()
		// The day file may have lost lines the journal still holds;
		// stop, so recovery writes them back before the journal is
		// trimmed.
		err = fmt.Errorf("sync index file: %w", err)
		w.group.Fail(err)
		return 0, err
	}
	m, t := syncMark{File: w.day, Size: w.size, Seq: w.seq}, w.last
	w.dirty = 0
	w.mu.Unlock()
	return m.Seq, w.markSynced(m, t)
}

// markSynced records m once the journal has made ticket t (the last line's
// entry) durable: only then are m's lines durable in both places.
func (w *Writer) markSynced(m syncMark, t groupsync.Ticket) error {
	if m == w.mark || m.Seq == 0 {
		return nil
	}
	if w.journal != nil {
		if err := w.group.Wait(context.Background(), t); err != nil {
			return fmt.Errorf("sync index file: %w", err)
		}
	}
	if err := w.writeMark(m); err != nil {
		return err
	}
	w.mark = m
	return nil
}

// Close syncs and closes the current file and records the sync mark.
func (w *Writer) Close() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if w.f == nil {
		w.mu.Unlock()
		return nil
	}
	err := w.f.Sync()
	w.f.Close()
	w.f = nil
	if err != nil {
		w.closeErr = fmt.Errorf("sync index file at close: %w", err)
	}
	m, t := syncMark{File: w.day, Size: w.size, Seq: w.seq}, w.last
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.markSynced(m, t)
}

// Package index writes and reads the request index: one JSON line per /v1/
// request, whatever its outcome, in <data>/index/YYYY-MM-DD.jsonl (UTC day).
// A line is made durable by the same group commit as the request's data, so
// an index that cannot keep up slows ingest rather than losing lines.
package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/commit"
	"github.com/cis490/cis490/internal/vfs"
)

// Line is one request. The first keys are the contract (SPEC "The index");
// later ones are extras that readers may ignore.
type Line struct {
	TS       time.Time `json:"-"`
	Host     string    `json:"host"`
	Auth     bool      `json:"auth"`
	CertHost string    `json:"cert_host"`
	Method   string    `json:"method"`
	Endpoint string    `json:"endpoint"`
	Status   int       `json:"status"`
	Bytes    int64     `json:"bytes"`
	Commit   string    `json:"commit"`
	Instance string    `json:"instance"`
	Reason   string    `json:"reason"`
	Remote   string    `json:"remote"`
	DurMS    float64   `json:"dur_ms"`
	Stream   string    `json:"stream,omitempty"`
	State    string    `json:"state,omitempty"` // heartbeat: up, shutdown, sleep
	Admin    string    `json:"admin,omitempty"` // the admin who made the request
	Gate     string    `json:"gate,omitempty"`  // unstamped, unknown-commit, stale
	// CertExpires is when the fleet-signed client certificate the request
	// carried expires (RFC 3339), so the fleet view can show it.
	CertExpires string `json:"cert_expires,omitempty"`
	Seq         uint64 `json:"seq,omitempty"` // the line's number, for recovery
}

// TimeFormat is the ts format: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

type wire struct {
	TS string `json:"ts"`
	lineAlias
}

type lineAlias Line

// MarshalJSON writes ts first, in TimeFormat.
func (l Line) MarshalJSON() ([]byte, error) { return appendLine(nil, &l), nil }

// UnmarshalJSON reads a line written by MarshalJSON.
func (l *Line) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	ts, err := time.Parse(time.RFC3339Nano, w.TS)
	if err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	*l = Line(w.lineAlias)
	l.TS = ts
	return nil
}

// Journal keeps index lines durable in a log that is synced anyway (the
// store's segments), so a request costs one sync, not one per file. The day
// files are then written through the page cache, synced at rotation and
// before the journal drops old entries, and repaired from the journal after
// a crash.
type Journal interface {
	Journal(seq uint64, payload []byte) (commit.Ticket, error)
}

// Writer appends lines to the day's file.
type Writer struct {
	dir    string
	fs     vfs.FS
	commit *commit.Group
	log    *slog.Logger

	mu      sync.Mutex
	journal Journal
	seq     uint64 // sequence number of the last line written
	day     string
	f       vfs.File
	size    int64
	buf     []byte
	enc     []byte
	pending []entry // journal entries recovery may need to replay
}

type entry struct {
	seq     uint64
	payload []byte
}

// OpenWriter opens the index folder for appending: it cuts a torn or
// garbled tail off the newest day file (a crash can leave one) and finds the
// last line's sequence number. Until Recover attaches a journal, every line
// is made durable by syncing the day file itself.
func OpenWriter(fsys vfs.FS, dir string, g *commit.Group, log *slog.Logger) (*Writer, error) {
	if fsys == nil {
		fsys = vfs.OS{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create index folder: %w", err)
	}
	w := &Writer{dir: dir, fs: fsys, commit: g, log: log}
	files, err := Files(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("list index folder: %w", err)
	}
	if len(files) > 0 {
		newest := files[len(files)-1]
		if err := w.repairTail(newest); err != nil {
			return nil, err
		}
		w.day = newest // lines never go to an older file than this
	}
	for i := len(files) - 1; i >= 0; i-- {
		seq, ok, err := w.lastSeq(files[i])
		if err != nil {
			return nil, err
		}
		if ok {
			w.seq = seq
			break
		}
	}
	return w, nil
}

// repairTail cuts what follows the last whole JSON line of name, and syncs
// what a killed process left in the page cache.
func (w *Writer) repairTail(name string) error {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open index file: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	cut, err := tornTail(f, size)
	if err != nil {
		return err
	}
	if cut < size {
		w.log.Warn("cut a torn tail off the index (lines never acknowledged)", "file", name, "bytes", size-cut)
		if err := f.Truncate(cut); err != nil {
			return fmt.Errorf("cut torn index line: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync index file: %w", err)
	}
	return nil
}

// lastSeq returns the sequence number of the last line in name.
func (w *Writer) lastSeq(name string) (uint64, bool, error) {
	b, err := vfs.ReadFile(w.fs, filepath.Join(w.dir, name))
	if err != nil {
		return 0, false, err
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return 0, false, nil
	}
	last := b[bytes.LastIndexByte(b, '\n')+1:]
	var l struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(last, &l); err != nil {
		return 0, false, nil
	}
	return l.Seq, true, nil
}

// Collect keeps a journal entry found by the store's recovery if the day
// files may be missing it. Pass it as store.Options.OnJournal.
func (w *Writer) Collect(seq uint64, payload []byte) {
	if seq > w.seq {
		w.pending = append(w.pending, entry{seq, bytes.Clone(payload)})
	}
}

// Recover reconciles the day files with the journal once the store is open,
// then attaches it: lines the journal never made durable (beyond durable,
// when known) are cut — those requests were never answered — and entries the
// files lost are written back.
func (w *Writer) Recover(j Journal, durable uint64, known bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if known && w.seq > durable {
		if err := w.cutBeyond(durable); err != nil {
			return err
		}
		w.seq = durable
	}
	replayed := 0
	for _, e := range w.pending {
		if e.seq <= w.seq {
			continue
		}
		var l Line
		if err := json.Unmarshal(e.payload, &l); err != nil {
			return fmt.Errorf("journal entry %d is not an index line: %w", e.seq, err)
		}
		if _, err := w.writeLine(l.TS, e.payload); err != nil {
			return err
		}
		w.seq = e.seq
		replayed++
	}
	w.pending = nil
	if replayed > 0 {
		w.log.Info("wrote back index lines from the journal", "lines", replayed)
	}
	if w.f != nil {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync index file: %w", err)
		}
	}
	w.journal = j
	return nil
}

// cutBeyond removes the lines with a sequence number above seq, newest file
// first; the caller holds w.mu.
func (w *Writer) cutBeyond(seq uint64) error {
	files, err := Files(w.fs, w.dir)
	if err != nil {
		return err
	}
	for i := len(files) - 1; i >= 0; i-- {
		path := filepath.Join(w.dir, files[i])
		b, err := vfs.ReadFile(w.fs, path)
		if err != nil {
			return err
		}
		keep := 0
		for off := 0; off < len(b); {
			n := bytes.IndexByte(b[off:], '\n')
			if n < 0 {
				break
			}
			var l struct {
				Seq uint64 `json:"seq"`
			}
			if json.Unmarshal(b[off:off+n], &l) == nil && l.Seq > seq {
				break
			}
			off += n + 1
			keep = off
		}
		if keep == len(b) {
			return nil // this file ends at or before seq: so do older ones
		}
		w.log.Warn("cut index lines the journal never made durable (requests never answered)", "file", files[i], "bytes", len(b)-keep)
		f, err := w.fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(keep))
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("cut index file %s: %w", files[i], err)
		}
		if keep > 0 {
			return nil
		}
	}
	return nil
}

// FileName is the index file for the UTC day of t.
func FileName(t time.Time) string { return t.UTC().Format("2006-01-02") + ".jsonl" }

// Write appends l and returns once it is durable.
func (w *Writer) Write(ctx context.Context, l Line) error {
	d, err := w.Begin(l)
	if err != nil {
		return err
	}
	return d(ctx)
}

// Begin appends l and returns the wait that makes it durable.
func (w *Writer) Begin(l Line) (commit.Durable, error) {
	t, err := w.Append(l)
	if err != nil {
		return nil, err
	}
	return w.commit.Durable(t), nil
}

// Append appends l (numbering it) and returns the ticket that makes it
// durable: the answer to the request waits for it.
func (w *Writer) Append(l Line) (commit.Ticket, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l.Seq = w.seq + 1
	w.enc = appendLine(w.enc[:0], &l)
	b := w.enc
	at, err := w.writeLine(l.TS, b)
	if err != nil {
		return 0, err
	}
	var t commit.Ticket
	if w.journal != nil {
		if t, err = w.journal.Journal(l.Seq, b); err != nil {
			// Keep the day file in step with the journal.
			if terr := w.f.Truncate(at); terr == nil {
				w.size = at
			}
			return 0, fmt.Errorf("journal index line: %w", err)
		}
	} else {
		t = w.commit.Wrote(w.f)
	}
	w.seq = l.Seq
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
// rotated out is synced first, so only the newest file can lose lines.
func (w *Writer) openDay(name string) error {
	if w.f != nil && w.day == name {
		return nil
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
		if err := w.commit.Forget(w.f); err != nil {
			f.Close()
			return err
		}
		w.f.Close()
	}
	w.f, w.day, w.size = f, name, size
	return nil
}

// tornTail returns the length of f's valid prefix: whole lines that are
// JSON. Only unsynced bytes can be torn or garbled, and syncs cover a prefix,
// so the first bad line and everything after it were never acknowledged.
func tornTail(f vfs.File, size int64) (int64, error) {
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("read index file: %w", err)
	}
	buf = buf[:n]
	var valid int64
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 || !json.Valid(buf[:i]) {
			break
		}
		valid += int64(i + 1)
		buf = buf[i+1:]
	}
	return valid, nil
}

// Sync makes every line written so far durable in the day file and returns
// the last one's sequence number: entries up to it are no longer needed in
// the journal.
func (w *Writer) Sync() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		if err := w.f.Sync(); err != nil {
			// The day file may have lost lines the journal still holds;
			// stop, so recovery writes them back before the journal is
			// trimmed.
			err = fmt.Errorf("sync index file: %w", err)
			w.commit.Fail(err)
			return 0, err
		}
	}
	return w.seq, nil
}

// Close syncs and closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	w.f.Close()
	w.f = nil
	return err
}

// Files lists the index files in dir, oldest first.
func Files(fsys vfs.FS, dir string) ([]string, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if len(n) == len("2006-01-02.jsonl") && strings.HasSuffix(n, ".jsonl") {
			if _, err := time.Parse("2006-01-02", strings.TrimSuffix(n, ".jsonl")); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Prune deletes whole day files older than maxAge, then the oldest while the
// total exceeds maxBytes. The current day's file is never deleted.
func (w *Writer) Prune(now time.Time, maxAge time.Duration, maxBytes int64) (int, error) {
	files, err := Files(w.fs, w.dir)
	if err != nil {
		return 0, err
	}
	today := FileName(now)
	sizes := make([]int64, len(files))
	var total int64
	for i, n := range files {
		if f, err := w.fs.OpenFile(filepath.Join(w.dir, n), os.O_RDONLY, 0); err == nil {
			sizes[i], _ = f.Size()
			f.Close()
		}
		total += sizes[i]
	}
	cutoff := FileName(now.Add(-maxAge))
	removed := 0
	for i, n := range files {
		if n >= today {
			break
		}
		old := maxAge > 0 && n < cutoff
		big := maxBytes > 0 && total > maxBytes
		if !old && !big {
			break
		}
		if err := w.fs.Remove(filepath.Join(w.dir, n)); err != nil {
			return removed, fmt.Errorf("prune index file %s: %w", n, err)
		}
		total -= sizes[i]
		removed++
	}
	if removed > 0 {
		return removed, w.fs.SyncDir(w.dir)
	}
	return 0, nil
}

// Pos is a reader's place in the index: a file and a byte offset in it.
type Pos struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
}

// ErrStop may be returned by a Scan callback to stop early.
var ErrStop = errors.New("stop scan")

// Scan calls fn for every whole line from pos on, in order, and returns the
// position after the last whole line read. Lines that do not parse (a torn
// write the writer has not cut yet) are skipped and counted.
func Scan(fsys vfs.FS, dir string, from Pos, fn func(Line) error) (Pos, int, error) {
	if fsys == nil {
		fsys = vfs.OS{}
	}
	files, err := Files(fsys, dir)
	if err != nil {
		return from, 0, err
	}
	bad := 0
	pos := from
	for _, name := range files {
		if name < from.File {
			continue
		}
		off := int64(0)
		if name == from.File {
			off = from.Offset
		}
		b, err := vfs.ReadFile(fsys, filepath.Join(dir, name))
		if err != nil {
			return pos, bad, err
		}
		if off > int64(len(b)) {
			off = 0 // the file was replaced: read it again from the start
		}
		rest := b[off:]
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			raw := rest[:i]
			rest = rest[i+1:]
			off += int64(i + 1)
			var l Line
			if err := json.Unmarshal(raw, &l); err != nil {
				bad++
				continue
			}
			if err := fn(l); err != nil {
				pos = Pos{name, off}
				if errors.Is(err, ErrStop) {
					return pos, bad, nil
				}
				return pos, bad, err
			}
		}
		pos = Pos{name, off}
	}
	return pos, bad, nil
}

package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// Source is the index read back: the lines written since a checkpoint, in
// the order they were written (a database: the order of its transactions,
// so lines written at once by different receivers or batches may come in
// either order; each is handed on once). The day-file folder (Dir) is one; an index
// kept elsewhere implements the same contract, so the detector, the fleet
// view and the tools above it do not change.
type Source interface {
	// Read hands fn every index line after cp, in order, up to and
	// excluding the first line stamped after until (a replay as of an
	// instant stops there; zero reads everything), and returns the
	// checkpoint after the last line handed on. With the zero Checkpoint
	// it starts at since and skips lines stamped before it. fn's Line is
	// reused: it must copy what it keeps.
	//
	// Readers call it again and again with the checkpoint it returned
	// (the detector every run, `cis490 index --follow` every second), so
	// it must never move past a line that may still appear before it:
	// it hands on lines only up to a horizon below which every line is
	// durable. Dir hands on the whole lines of its files and leaves a
	// torn last line (one being written) for the next read; a line may
	// be there a moment before its group commit, and when a crash makes
	// recovery cut and renumber such lines, the checkpoint's marks find
	// the place again, so none is skipped. A database whose line numbers
	// are handed out before commit (a sequence) must stop below the oldest
	// line not yet committed, so a line committed late, behind one already
	// read, is not skipped (package pgs3 reads below the snapshot horizon).
	Read(ctx context.Context, cp Checkpoint, since, until time.Time, fn func(*Line)) (Checkpoint, ReadStats, error)
}

// Checkpoint is where a reader stopped: a day file and the byte offset
// after the last whole line read. It survives rotation: files are named
// by day, so a pruned file is simply before every file still there. Its
// JSON form is kept in the detector's state: do not change it.
type Checkpoint struct {
	File   string    `json:"file"`
	Offset int64     `json:"offset"`
	Seq    uint64    `json:"seq"` // the last line's number and stamp
	TS     time.Time `json:"ts"`
	// Tail identifies the last lines read (oldest first, the last one
	// ending at Offset). After a receiver crash, recovery cuts the index
	// lines that never became durable and numbers the next ones anew, so
	// a file may be cut and rewritten below the checkpoint: the newest
	// mark still in place says where reading resumes.
	Tail []Mark `json:"tail,omitempty"`
	// XID is where an index kept in PostgreSQL was read to: every line
	// written by a transaction below it, and those of XID itself up to
	// Seq (package pgs3). File and Offset are then empty.
	XID uint64 `json:"xid,omitempty"`
}

// Mark is a line of the index by the offset it ends at and a hash.
type Mark struct {
	End  int64  `json:"end"`
	Hash uint64 `json:"hash"`
}

// ReadStats counts what a read saw.
type ReadStats struct {
	Lines     int // index lines handed on
	Malformed int // whole lines that are not index lines, skipped
}

// Dir is the index as the receiver writes it: day files in a folder.
type Dir struct {
	FS   vfs.FS // nil is the real file system
	Path string
	tune parTune // zero: the defaults; tests make the parallel read's pieces small
}

var _ Source = Dir{}

func (d Dir) fs() vfs.FS {
	if d.FS == nil {
		return vfs.OS{}
	}
	return d.FS
}

// Read implements Source over the day files. Without a checkpoint it
// starts with the day file of since. A torn last line of the newest file
// (a line being written) is left for the next read. A long read is parsed
// on every core, with a bounded number of pieces in flight, and fn is
// called in file order on the caller's goroutine (it need not be safe for
// concurrent use); memory does not grow with the index either way.
func (d Dir) Read(ctx context.Context, cp Checkpoint, since, until time.Time, fn func(*Line)) (Checkpoint, ReadStats, error) {
	var st ReadStats
	fsys := d.fs()
	files, err := d.dayFiles()
	if err != nil {
		return cp, st, fmt.Errorf("read the index folder: %w", err)
	}
	first := cp.File
	fresh := first == ""
	if fresh {
		first = FileName(since)
	}
	seen := &strs{}
	// A first read skips the lines before since: those in the writer's
	// form (nearly all) without parsing them. A day file is read from its
	// start, so a first run late in the day would otherwise parse nearly
	// two days of lines to keep one.
	var early []byte
	if fresh && !d.tune.readEarly && (until.IsZero() || !until.Before(since)) {
		early = []byte(since.UTC().Format(TimeFormat)) // cut to the ms: never later than since
	}
	for fi, name := range files {
		if name < first {
			continue
		}
		if err := ctx.Err(); err != nil {
			return cp, st, err
		}
		p := filepath.Join(d.Path, name)
		var from int64
		var skipSeq uint64
		if name == cp.File {
			var whole bool
			from, whole = resumeAt(fsys, p, cp)
			if !whole {
				// Cut deeper than the marks reach: read it again,
				// skipping the lines numbered up to the last one read.
				skipSeq = cp.Seq
			}
		}
		res, err := readFile(ctx, fsys, p, from, fi == len(files)-1, &st, d.tune, seen, early, func(l *Line) bool {
			if l == nil {
				st.Malformed++
				return true
			}
			if !until.IsZero() && l.TS.After(until) {
				return false
			}
			if skipSeq != 0 && l.Seq != 0 && l.Seq <= skipSeq {
				return true
			}
			if fresh && l.TS.Before(since) {
				return true
			}
			st.Lines++
			fn(l)
			cp.Seq, cp.TS = l.Seq, l.TS
			return true
		})
		if err != nil {
			return cp, st, err
		}
		switch {
		case name != cp.File:
			cp.File, cp.Offset, cp.Tail = name, res.next, res.tail
		case res.next != from:
			cp.Offset, cp.Tail = res.next, mergeTail(cp.Tail, from, res.tail)
		default:
			cp.Offset, cp.Tail = from, mergeTail(cp.Tail, from, nil)
		}
		if res.stop {
			break
		}
	}
	return cp, st, nil
}

// dayFiles lists the day files, oldest first. On the real file system
// only regular files count, as they always have for the detector: a
// folder or a link named like a day is not the receiver's.
func (d Dir) dayFiles() ([]string, error) {
	names, err := Files(d.fs(), d.Path)
	if err != nil {
		return nil, err
	}
	if _, real := d.fs().(vfs.OS); !real {
		return names, nil
	}
	out := names[:0]
	for _, n := range names {
		if fi, err := os.Lstat(filepath.Join(d.Path, n)); err == nil && fi.Mode().IsRegular() {
			out = append(out, n)
		}
	}
	return out, nil
}

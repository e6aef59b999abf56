package fleethealth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/vfs"
)

// Store keeps what the detector carries between runs: its state, the lock
// a run holds on it, and the alert lines. Files keeps them under data_dir
// (or a replay's folder); a shared database would be a second
// implementation. The state is opaque here: the detector encodes it.
type Store interface {
	// Lock holds off every other run on this state until unlock. A store
	// that gives up waiting (another machine's run holds it) returns an
	// error that wraps ErrBusy.
	Lock() (unlock func(), err error)
	// LoadState returns what SaveState last saved; nil when nothing was.
	LoadState() ([]byte, error)
	// SaveState replaces the state, atomically and durably.
	SaveState(b []byte) error
	// SetAside moves a state that cannot be decoded out of the way (kept
	// for a post-mortem) and says where it went.
	SetAside() (where string, err error)
	// AppendAlerts adds the lines durably before it returns, all or none.
	AppendAlerts(alerts []Alert) error
	// ReadAlerts returns the latest alerts that keep keeps, newest first,
	// at most limit.
	ReadAlerts(keep func(Alert) bool, limit int) ([]Alert, error)
	// AlertsSince hands fn every alert appended after cp, oldest first,
	// and returns the checkpoint after the last one handed on; with the
	// zero AlertCheckpoint it starts at the first alert and skips those
	// stamped before since. An error from fn stops the read and is
	// returned. It takes no lock and writes nothing, so readers (`cis490
	// index --follow`) never hold up a run. An implementation hands on
	// only alerts below a horizon under which every alert is durable:
	// one still being written (a torn last line) waits for the next
	// read, and a database whose positions are handed out before commit
	// (a sequence) must stop below the oldest uncommitted one, so an
	// alert committed late, behind one already read, is not skipped.
	AlertsSince(ctx context.Context, cp AlertCheckpoint, since time.Time, fn func(Alert) error) (AlertCheckpoint, error)
	// LoadSilences returns what SaveSilences last saved; nil when nothing
	// was. Changes to the silences hold Lock, as a run does.
	LoadSilences() ([]byte, error)
	// SaveSilences replaces the silences, atomically and durably.
	SaveSilences(b []byte) error
}

// Files is Store in the files every receiver has used: state.gob, lock
// and silences.json in <data_dir>/fleet-health, and
// <data_dir>/alerts.jsonl; with stateDir set (a replay's --state) all of
// them live in stateDir instead.
func Files(data, stateDir string) Store {
	f := files{data: data, dir: datadir.Dir(data).FleetHealth(), alerts: datadir.Dir(data).Alerts()}
	if stateDir != "" {
		f.dir, f.alerts = stateDir, filepath.Join(stateDir, "alerts.jsonl")
	}
	return f
}

type files struct{ data, dir, alerts string }

// ErrBusy is a Lock that gave up because another run holds the state: that
// run does the work this one came to do.
var ErrBusy = errors.New("another fleet-health run holds the detector's lock")

// StatePath is the state file in a state folder (data_dir's fleet-health
// or a replay's --state); the folder's inside is the detector's own.
func StatePath(dir string) string { return filepath.Join(dir, "state.gob") }

// silencesPath is the silences' file in a state folder: JSON, since
// admins may read it, and it is small (maxSilences).
func silencesPath(dir string) string { return filepath.Join(dir, "silences.json") }

// lockPath is the lock a run holds on its state folder.
func lockPath(dir string) string { return filepath.Join(dir, "lock") }

func (f files) Lock() (func(), error) {
	if err := os.MkdirAll(f.dir, 0o750); err != nil {
		return nil, fmt.Errorf("make the detector's folder: %w", err)
	}
	unlock, err := vfs.Lock(lockPath(f.dir), 0o640)
	if err != nil {
		return nil, err
	}
	return func() {
		// A maintainer running it by hand as root must not leave files
		// the timer's user cannot write.
		vfs.OwnLike(f.data, f.dir, lockPath(f.dir), StatePath(f.dir), silencesPath(f.dir), f.alerts)
		unlock()
	}, nil
}

func (f files) LoadState() ([]byte, error) {
	b, err := os.ReadFile(StatePath(f.dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (f files) SaveState(b []byte) error {
	return vfs.WriteFileAtomic(vfs.OS{}, StatePath(f.dir), b, 0o640)
}

func (f files) LoadSilences() ([]byte, error) {
	b, err := os.ReadFile(silencesPath(f.dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (f files) SaveSilences(b []byte) error {
	return vfs.WriteFileAtomic(vfs.OS{}, silencesPath(f.dir), b, 0o640)
}

func (f files) SetAside() (string, error) {
	aside := StatePath(f.dir) + ".corrupt"
	return aside, os.Rename(StatePath(f.dir), aside)
}

// AppendAlerts appends the lines to alerts.jsonl and syncs them; a failed
// write is cut off, so no torn line is left for the next run to append
// after.
func (f files) AppendAlerts(alerts []Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	var buf []byte
	for _, a := range alerts {
		b, err := a.MarshalJSON()
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	p := f.alerts
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open the alert file: %w", err)
	}
	info, err := fh.Stat()
	if err != nil {
		fh.Close()
		return fmt.Errorf("stat the alert file %s: %w", p, err)
	}
	if _, err := fh.Write(buf); err != nil {
		fh.Truncate(info.Size())
		fh.Close()
		return fmt.Errorf("write the alert file %s: %w", p, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("sync the alert file %s: %w", p, err)
	}
	return fh.Close()
}

// ReadAlerts reads only the file's last 8 MiB: the dashboard asks per
// request, and the file only grows.
func (f files) ReadAlerts(keep func(Alert) bool, limit int) ([]Alert, error) {
	fh, err := os.Open(f.alerts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Size() > 8<<20 {
		fh.Seek(st.Size()-8<<20, io.SeekStart)
	}
	var out []Alert
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var a Alert
		if json.Unmarshal(sc.Bytes(), &a) != nil || !keep(a) {
			continue // a torn or cut first line
		}
		out = append(out, a)
	}
	slices.Reverse(out)
	return out[:min(len(out), limit)], nil
}

// AlertCheckpoint is where a read of the alerts stopped. Offset is, for
// Files, the byte after the last whole line read in alerts.jsonl; a
// database keeps its position in XID and Seq (the writing transaction and
// the line's sequence number, as index.Checkpoint does).
type AlertCheckpoint struct {
	Offset int64  `json:"offset"`
	XID    uint64 `json:"xid,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
}

// maxAlertLine bounds an alert line; a longer one (garbage, a file of
// zeros) is skipped, not held in memory.
const maxAlertLine = 1 << 20

// alertStart is how every alert line begins (Alert.MarshalJSON).
var alertStart = []byte(`{"ts":"`)

// AlertsSince reads alerts.jsonl on from cp. The file only grows: one
// shorter than cp was replaced (rotated by hand), so it is read from its
// start. An unfinished last line is left for the next read. A line a
// crash cut short is glued to the next run's first alert: that alert,
// from its last `{"ts":"` on, is still read.
func (f files) AlertsSince(ctx context.Context, cp AlertCheckpoint, since time.Time, fn func(Alert) error) (AlertCheckpoint, error) {
	fh, err := os.Open(f.alerts)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, fmt.Errorf("open the alert file: %w", err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return cp, fmt.Errorf("stat the alert file %s: %w", f.alerts, err)
	}
	fresh := cp == AlertCheckpoint{}
	if info.Size() < cp.Offset {
		cp.Offset = 0
	}
	br := bufio.NewReaderSize(io.NewSectionReader(fh, cp.Offset, info.Size()-cp.Offset), 64<<10)
	var long []byte // a line longer than the buffer
	var taken int64 // bytes of the line being read
	for i := 0; ; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return cp, err
			}
		}
		b, err := br.ReadSlice('\n')
		taken += int64(len(b))
		if errors.Is(err, bufio.ErrBufferFull) {
			if taken <= maxAlertLine {
				long = append(long, b...)
			}
			continue
		}
		if err == io.EOF {
			return cp, nil // an unfinished line is not read yet
		}
		if err != nil {
			return cp, fmt.Errorf("read the alert file %s: %w", f.alerts, err)
		}
		if long != nil {
			b, long = append(long, b...), nil
		}
		cp.Offset += taken
		over := taken > maxAlertLine
		taken = 0
		if over {
			continue
		}
		a, ok := parseAlert(b[:len(b)-1])
		if !ok || fresh && a.TS.Before(since) {
			continue
		}
		if err := fn(a); err != nil {
			return cp, err
		}
	}
}

// parseAlert reads one line of alerts.jsonl; a line a crash cut short
// and the next run appended to is read from the alert that follows.
func parseAlert(b []byte) (Alert, bool) {
	var a Alert
	if json.Unmarshal(b, &a) == nil {
		return a, true
	}
	if i := bytes.LastIndex(b, alertStart); i > 0 && json.Unmarshal(b[i:], &a) == nil {
		return a, true
	}
	return Alert{}, false
}

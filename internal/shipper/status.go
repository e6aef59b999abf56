package shipper

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SourceState is where one stream stands, from its checkpoint and its
// file: what the doctor reports.
type SourceState struct {
	Stream string
	Path   string
	// LastCheckpoint is when its checkpoint was last written (after every
	// acknowledged PUT, and when a generation begins).
	LastCheckpoint time.Time
	// Backlog is how many bytes of the file at Path the receiver does not
	// have yet (-1 when there is no file); a rotated copy still being
	// finished is not counted.
	Backlog int64
	// Written is when the file was last written: every byte of the
	// backlog has waited at least since then.
	Written time.Time
	// LastLoss is the latest loss of bytes gone for good, nil for none.
	LastLoss *Loss
}

// Status reads every stream's checkpoint in stateDir and compares it with
// its file. It creates and changes nothing.
func Status(stateDir string) ([]SourceState, error) {
	dir := filepath.Join(stateDir, "checkpoints")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []SourceState
	for _, e := range ents {
		stream, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var cp Checkpoint
		if json.Unmarshal(b, &cp) != nil || cp.Stream != stream {
			continue
		}
		st := SourceState{Stream: stream, Path: cp.Path, Backlog: -1, LastLoss: cp.LastLoss}
		if info, err := e.Info(); err == nil {
			st.LastCheckpoint = info.ModTime()
		}
		if f, err := os.Open(cp.Path); err == nil {
			if info, err := f.Stat(); err == nil {
				st.Written = info.ModTime()
				st.Backlog = info.Size() // a generation not begun yet: all of it
				if cp.Gen.same(f) {
					st.Backlog = max(0, info.Size()-cp.Acked)
				} else {
					st.Backlog += rotatedBacklog(cp)
				}
			}
			f.Close()
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out, nil
}

// rotatedBacklog is what waits in rotated copies when the checkpoint's
// generation is no longer the file at the path: the rest of that
// generation and every copy written since (a compressed one counted at
// its compressed size: at least that much waits). A shipper behind a
// compressing logrotate is not "nothing waiting".
func rotatedBacklog(cp Checkpoint) int64 {
	fl := newFollower(cp.Path, slog.New(slog.DiscardHandler))
	var n int64
	if g, ok := fl.find(cp.Gen); ok {
		if size, err := g.size(); err == nil {
			n += max(0, size-cp.Acked)
		}
		g.close()
	}
	if cp.GenMod.IsZero() {
		return n
	}
	for _, c := range fl.rotatedCopies() {
		if c.info.ModTime().Before(cp.GenMod) || fl.holds(c.path, cp.Gen) {
			continue
		}
		n += c.info.Size()
	}
	return n
}

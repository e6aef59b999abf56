package shipper

import (
	"errors"
	"io/fs"
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
	// LastAck is when the receiver last acknowledged bytes of it (the
	// checkpoint's time); zero when it has no checkpoint yet.
	LastAck time.Time
	// Backlog is how many bytes of the file at Path the receiver does not
	// have yet (-1 when there is no file); a rotated copy still being
	// finished is not counted.
	Backlog int64
}

// Status reads every stream's checkpoint in stateDir and compares it with
// its file.
func Status(stateDir string) ([]SourceState, error) {
	dir := filepath.Join(stateDir, "checkpoints")
	cps, err := OpenCheckpoints(dir)
	if err != nil {
		return nil, err
	}
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
		cp, err := cps.Load(stream)
		if err != nil {
			continue
		}
		st := SourceState{Stream: stream, Path: cp.Path, Backlog: -1}
		if info, err := e.Info(); err == nil {
			st.LastAck = info.ModTime()
		}
		if f, err := os.Open(cp.Path); err == nil {
			if info, err := f.Stat(); err == nil {
				st.Backlog = info.Size() // a generation not begun yet: all of it
				if cp.Gen.same(f) {
					st.Backlog = max(0, info.Size()-cp.Acked)
				}
			}
			f.Close()
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out, nil
}

package shipper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// Checkpoint is a stream's durable progress.
type Checkpoint struct {
	Version  int    `json:"version"`
	Stream   string `json:"stream"`
	Path     string `json:"path"`
	Gen      Ident  `json:"generation"`
	GenStart int64  `json:"generation_start"` // logical offset where Gen begins in the stream
	Acked    int64  `json:"acked"`            // bytes of Gen the receiver has acknowledged
	Seen     int64  `json:"seen"`             // Gen's size when last looked at, to report loss
	// GenMod is when Gen's file was last written, as last looked at:
	// rotated copies written since hold later generations.
	GenMod time.Time `json:"generation_modified,omitzero"`
	// Lost is what the stream lost for good and has not told the
	// receiver yet: it rides on the next PUT (X-Cis490-Lost) and is
	// cleared when one is acknowledged, so a crash in between repeats it
	// rather than drops it.
	Lost *Loss `json:"lost,omitempty"`
	// LastLoss is the latest loss, kept: the doctor warns for a day after.
	LastLoss *Loss `json:"last_loss,omitempty"`
	// Cursor, for a journal stream (Path empty), is the __CURSOR of the
	// last entry in the acknowledged bytes: saved only with the
	// acknowledgement of the bytes that end at it, so a restart resumes
	// right after them.
	Cursor string `json:"cursor,omitempty"`
}

// Loss is bytes of a stream gone for good before the shipper read them.
type Loss struct {
	At      time.Time `json:"at"`
	Bytes   int64     `json:"bytes"`             // at least
	Entries int64     `json:"entries,omitempty"` // journal entries, when counted
	Cause   string    `json:"cause"`             // wire.LostRotatedAway, …
	// What says where: the generation, file or journal cursor.
	What string `json:"what,omitempty"`
}

// add folds l into a pending loss: the counts add up, and the cause is
// the larger loss's.
func (p *Loss) add(l Loss) *Loss {
	if p == nil {
		return &l
	}
	sum := *p
	sum.Bytes += l.Bytes
	sum.Entries += l.Entries
	if l.Bytes > p.Bytes {
		sum.Cause, sum.What = l.Cause, l.What
	}
	sum.At = l.At
	return &sum
}

const checkpointVersion = 1

// Length is the stream's acknowledged length.
func (c Checkpoint) Length() int64 { return c.GenStart + c.Acked }

// Checkpoints stores one file per stream in a folder.
type Checkpoints struct {
	dir string
	fs  vfs.FS
}

// OpenCheckpoints uses dir (created 0700 if missing).
func OpenCheckpoints(dir string) (*Checkpoints, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create checkpoint folder: %w", err)
	}
	return &Checkpoints{dir: dir, fs: vfs.OS{}}, nil
}

func (c *Checkpoints) path(stream string) string { return filepath.Join(c.dir, stream+".json") }

// ErrNoCheckpoint means a stream has no usable checkpoint: missing or
// corrupt. The shipper then asks the receiver where the stream stands.
var ErrNoCheckpoint = errors.New("no usable checkpoint")

// Load reads a stream's checkpoint. A missing, torn or foreign file is
// ErrNoCheckpoint (wrapped with why), never a crash loop.
func (c *Checkpoints) Load(stream string) (Checkpoint, error) {
	b, err := vfs.ReadFile(c.fs, c.path(stream))
	if errors.Is(err, fs.ErrNotExist) {
		return Checkpoint{}, fmt.Errorf("%w: none yet", ErrNoCheckpoint)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrNoCheckpoint, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %s is corrupt (%v)", ErrNoCheckpoint, c.path(stream), err)
	}
	if cp.Version != checkpointVersion || cp.Stream != stream || cp.GenStart < 0 || cp.Acked < 0 {
		return Checkpoint{}, fmt.Errorf("%w: %s does not describe stream %s", ErrNoCheckpoint, c.path(stream), stream)
	}
	return cp, nil
}

// Save writes a stream's checkpoint atomically and durably: a crash leaves
// the old one or the new one.
func (c *Checkpoints) Save(cp Checkpoint) error {
	cp.Version = checkpointVersion
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(c.fs, c.path(cp.Stream), b, 0o600); err != nil {
		return fmt.Errorf("save checkpoint for %s: %w", cp.Stream, err)
	}
	return nil
}

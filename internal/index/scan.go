package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"

	"github.com/cis490/cis490/internal/vfs"
)

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

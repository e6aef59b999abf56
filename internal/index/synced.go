package index

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cis490/cis490/internal/vfs"
)

// syncedFile records how far the day files are known good: every line up to
// Seq, which ends at byte Size of File, was synced in the day file and in
// the journal. Recovery checks only what follows, and the journal entries it
// keeps are those after Seq, so neither grows with the index's history.
const syncedFile = "synced.json"

type syncMark struct {
	File string `json:"file"`
	Size int64  `json:"size"`
	Seq  uint64 `json:"seq"`
}

// readMark returns the mark, or the zero mark when there is none or it does
// not fit the files (then recovery checks the newest file whole, as a data
// folder from before the mark existed needs).
func (w *Writer) readMark(files []string) syncMark {
	b, err := vfs.ReadFile(w.fs, filepath.Join(w.dir, syncedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return syncMark{}
	}
	var m syncMark
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err == nil && (len(files) == 0 || m.File > files[len(files)-1] || len(m.File) != len("2006-01-02.jsonl")) {
		err = fmt.Errorf("it names %q, not a day file", m.File)
	}
	if err == nil && m.File == files[len(files)-1] {
		if size, serr := w.fileSize(m.File); serr != nil || size < m.Size {
			err = fmt.Errorf("%s is shorter than it says", m.File)
		}
	}
	if err != nil {
		w.log.Warn("ignored the index's sync mark; checking the newest day file whole", "file", syncedFile, "err", err)
		return syncMark{}
	}
	return m
}

func (w *Writer) writeMark(m syncMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(w.fs, filepath.Join(w.dir, syncedFile), b, 0o640); err != nil {
		return fmt.Errorf("write the index's sync mark: %w", err)
	}
	return nil
}

// from returns where checking name must begin, and the sequence number of
// the line before that point.
func (m syncMark) from(name string) (int64, uint64) {
	if m.File == name {
		return m.Size, m.Seq
	}
	return 0, 0
}

func (w *Writer) fileSize(name string) (int64, error) {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, name), os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Size()
}

// eachLine calls fn with every whole line of f from byte from on (without
// its newline) and the offset just past it, until fn returns false. It
// reads through one buffer; a line longer than the buffer is still whole.
func eachLine(f vfs.File, from int64, fn func(line []byte, end int64) bool) error {
	size, err := f.Size()
	if err != nil {
		return err
	}
	if from >= size {
		return nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, from, size-from), 64<<10)
	var long []byte
	pos := from
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, b...)
			continue
		}
		if err == io.EOF {
			return nil // an unterminated tail is not a line
		}
		if err != nil {
			return fmt.Errorf("read index file: %w", err)
		}
		if long != nil {
			b, long = append(long, b...), nil
		}
		pos += int64(len(b))
		if !fn(b[:len(b)-1], pos) {
			return nil
		}
	}
}

// lastLine returns the last whole line of f, reading back from its end.
func lastLine(f vfs.File) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	for chunk := int64(4 << 10); ; chunk *= 4 {
		from := max(size-chunk, 0)
		b := make([]byte, size-from)
		if _, err := f.ReadAt(b, from); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read index file: %w", err)
		}
		b = bytes.TrimRight(b, "\n")
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return b[i+1:], nil
		}
		if from == 0 {
			return b, nil
		}
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// verify reads the stream back as an admin and compares it with the file.
func (r *shipRig) verify(ctx context.Context, stream, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	length, err := r.admin.length(ctx, r.t.Hosts[0].Name, stream)
	if err != nil {
		return err
	}
	if length != st.Size() {
		return fmt.Errorf("verify: stream %s holds %d bytes, its file %d", stream, length, st.Size())
	}
	want := make([]byte, 8<<20)
	for off := int64(0); off < length; {
		got, err := r.admin.read(ctx, r.t.Hosts[0].Name, stream, off, len(want))
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if len(got) == 0 {
			return fmt.Errorf("verify: stream %s: no bytes at offset %d of %d", stream, off, length)
		}
		n, err := f.ReadAt(want[:len(got)], off)
		if err != nil && !(errors.Is(err, io.EOF) && n == len(got)) {
			return fmt.Errorf("verify: %w", err)
		}
		if i := firstDiff(got, want[:n]); i >= 0 {
			return fmt.Errorf("verify: stream %s differs from %s at byte %d", stream, path, off+int64(i))
		}
		off += int64(len(got))
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

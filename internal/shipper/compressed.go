package shipper

import (
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// compressed says whether name is a compressed copy, readable or not.
func compressed(name string) bool { return compressionOf(name) != "" }

// compressionOf is name's compression suffix, "" for a plain file: the
// suffixes logrotate's compressors give a rotated copy. The follower reads
// those a standard library decompresses (gzip, the default everywhere,
// and bzip2); the others it cannot read.
func compressionOf(name string) string {
	for _, ext := range [...]string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip"} {
		if strings.HasSuffix(name, ext) {
			return ext
		}
	}
	return ""
}

// readable says whether the follower can decompress a copy with this
// suffix.
func readable(ext string) bool { return ext == ".gz" || ext == ".bz2" }

// errIncomplete: a compressed copy that does not end with a complete
// trailer; logrotate may still be writing it.
var errIncomplete = errors.New("the compressed copy is not complete yet")

// zReader reads a compressed copy's decompressed bytes at increasing
// offsets (a decompressor only goes forward; an earlier offset starts it
// over).
type zReader struct {
	f    *os.File
	ext  string
	size int64 // decompressed, measured when opened
	r    io.Reader
	pos  int64
}

// openZ opens f, a compressed copy, for reading: a first pass through the
// whole of it proves it complete (gzip checks its trailer's CRC and length)
// and measures its decompressed size. A copy logrotate is still writing
// fails with errIncomplete, and is looked at again later.
func openZ(f *os.File) (*zReader, error) {
	z := &zReader{f: f, ext: compressionOf(f.Name())}
	if !readable(z.ext) {
		return nil, fmt.Errorf("%s: cannot read %s files", f.Name(), z.ext)
	}
	if err := z.reset(); err != nil {
		return nil, err
	}
	n, err := io.Copy(io.Discard, z.r)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w (%v)", f.Name(), errIncomplete, err)
		}
		return nil, fmt.Errorf("decompress %s: %w", f.Name(), err)
	}
	z.size = n
	return z, z.reset()
}

// reset starts decompressing from the first byte.
func (z *zReader) reset() error {
	st, err := z.f.Stat()
	if err != nil {
		return err
	}
	src := io.NewSectionReader(z.f, 0, st.Size())
	switch z.ext {
	case ".gz":
		gz, err := gzip.NewReader(src)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: %w (%v)", z.f.Name(), errIncomplete, err)
			}
			return fmt.Errorf("decompress %s: %w", z.f.Name(), err)
		}
		z.r = gz
	case ".bz2":
		z.r = bzip2.NewReader(src)
	}
	z.pos = 0
	return nil
}

// ReadAt reads decompressed bytes at off.
func (z *zReader) ReadAt(p []byte, off int64) (int, error) {
	if off < z.pos {
		if err := z.reset(); err != nil {
			return 0, err
		}
	}
	if off > z.pos {
		n, err := io.CopyN(io.Discard, z.r, off-z.pos)
		z.pos += n
		if err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(z.r, p)
	z.pos += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// zPrefix hashes the first n decompressed bytes of a compressed copy; ok
// is false when it has fewer or cannot be read.
func zPrefix(f *os.File, n int) (fp string, ok bool) {
	z := &zReader{f: f, ext: compressionOf(f.Name())}
	if !readable(z.ext) || z.reset() != nil {
		return "", false
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(z.r, buf); err != nil {
		return "", false
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), true
}

package shipper

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// FingerprintSize is how many leading bytes identify a generation.
const FingerprintSize = 1024

// Ident identifies a generation of a file: where it lives on disk and a
// hash of its first bytes (as many as it had, up to FingerprintSize, when
// the generation was first seen).
type Ident struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	FPLen int    `json:"fp_len"`
	FP    string `json:"fp"` // hex SHA-256 of the first FPLen bytes
}

// ID is the X-Cis490-Generation value: stable for the generation's life,
// and enough to find the generation again (ParseID) when the checkpoint is
// lost and only the receiver remembers it.
func (id Ident) ID() string {
	return fmt.Sprintf("%d-%d-%d-%s", id.Dev, id.Ino, id.FPLen, id.FP)
}

// ParseID reads an ID back.
func ParseID(s string) (Ident, bool) {
	var id Ident
	if n, err := fmt.Sscanf(s, "%d-%d-%d-%64s", &id.Dev, &id.Ino, &id.FPLen, &id.FP); err != nil || n != 4 ||
		len(id.FP) != 64 || id.FPLen < 0 || id.FPLen > FingerprintSize {
		return Ident{}, false
	}
	return id, true
}

// settleTime is how long a file without a complete first line must be
// seen unchanged before it is identified anyway.
const settleTime = 10 * time.Second

// identifyLive identifies a file that may still be growing, but only once
// its fingerprint can tell it apart: it has a complete first line (or
// FingerprintSize bytes), or settled says it has been left alone long
// enough. A few bytes of a line being written ("Nov 2") start many files
// alike, and a generation known by them alone could later be taken for
// another (after a crash, a new file at the path would pass for the old
// one). ok is false while it waits.
func identifyLive(f *os.File, settled func(fs.FileInfo) bool) (id Ident, ok bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return Ident{}, false, err
	}
	n := int(min(st.Size(), FingerprintSize))
	if n < FingerprintSize {
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
			return Ident{}, false, fmt.Errorf("read fingerprint: %w", err)
		}
		if !bytes.Contains(buf, []byte{'\n'}) && !settled(st) {
			return Ident{}, false, nil
		}
	}
	id, err = identify(f)
	return id, err == nil, err
}

// identify reads f's identity, fingerprinting its first bytes (of a
// compressed copy, its first decompressed bytes: it is known by what it
// holds).
func identify(f *os.File) (Ident, error) {
	st, err := f.Stat()
	if err != nil {
		return Ident{}, err
	}
	id := Ident{}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	if compressed(f.Name()) {
		z, err := openZ(f)
		if err != nil {
			return Ident{}, err
		}
		return identifyZ(f, z)
	}
	n := int(min(st.Size(), FingerprintSize))
	fp, err := hashPrefix(f, n)
	if err != nil {
		return Ident{}, err
	}
	id.FPLen, id.FP = n, fp
	return id, nil
}

// identifyZ is identify for a compressed copy open in z: its inode, and
// its first decompressed bytes.
func identifyZ(f *os.File, z *zReader) (Ident, error) {
	st, err := f.Stat()
	if err != nil {
		return Ident{}, err
	}
	id := Ident{}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	n := int(min(z.size, FingerprintSize))
	fp, err := hashPrefix(z, n)
	if err != nil {
		return Ident{}, err
	}
	id.FPLen, id.FP = n, fp
	return id, nil
}

func hashPrefix(f io.ReaderAt, n int) (string, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return "", fmt.Errorf("read fingerprint: %w", err)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}

// sameContent reports whether f starts with the bytes id was taken from: the
// same generation, whatever its inode now (a copy made by copytruncate, or
// a file restored elsewhere).
func (id Ident) sameContent(f *os.File) bool {
	if compressed(f.Name()) {
		fp, ok := zPrefix(f, id.FPLen)
		return ok && fp == id.FP
	}
	st, err := f.Stat()
	if err != nil || st.Size() < int64(id.FPLen) {
		return false
	}
	fp, err := hashPrefix(f, id.FPLen)
	return err == nil && fp == id.FP
}

// same reports whether f is this generation: the same inode and the same
// first bytes (an inode reused by a new file fails the second test).
func (id Ident) same(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || uint64(sys.Dev) != id.Dev || uint64(sys.Ino) != id.Ino {
		return false
	}
	return id.sameContent(f)
}

// Identify reads the identity of the generation open in f, as the shipper
// records it in a checkpoint (other packages' tests write checkpoints).
func Identify(f *os.File) (Ident, error) { return identify(f) }

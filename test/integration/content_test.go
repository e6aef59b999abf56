package integration

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
)

// ---------------------------------------------------------------------------
// Deterministic stream content.

const blockSize = 64 << 10

// content is a stream's bytes as a pure function of (seed, stream, offset):
// 64 KiB blocks of ChaCha8 output, each keyed by its index. Any offset can
// be regenerated, so a client resends exactly what it sent before and the
// checker knows every byte a stream must hold.
type content struct {
	seed int64
	name string // host/stream
}

func (c content) block(i int64) []byte {
	key := sha256.Sum256(fmt.Appendf(nil, "cis490-integration/%d/%s/%d", c.seed, c.name, i))
	b := make([]byte, blockSize)
	rand.NewChaCha8(key).Read(b)
	return b
}

// at returns bytes [off, off+n).
func (c content) at(off, n int64) []byte {
	out := make([]byte, 0, n)
	for n > 0 {
		skip := off % blockSize
		k := min(n, blockSize-skip)
		out = append(out, c.block(off / blockSize)[skip:skip+k]...)
		off, n = off+k, n-k
	}
	return out
}

// firstDiff describes where got differs from the content at off.
func (c content) firstDiff(off int64, got []byte) string {
	want := c.at(off, int64(len(got)))
	for i := range got {
		if got[i] != want[i] {
			j := i
			for j < len(got) && got[j] == 0 {
				j++
			}
			zeros := ""
			if j > i {
				zeros = fmt.Sprintf(" (%d zero bytes from there)", j-i)
			}
			return fmt.Sprintf("first differing byte at offset %d: got %#02x, want %#02x%s", off+int64(i), got[i], want[i], zeros)
		}
	}
	return ""
}

// logSize draws a chunk size in [1, max], log-uniform: as many tiny chunks
// as large ones.
func logSize(r *rand.Rand, max int) int64 {
	bits := 0
	for 1<<bits < max {
		bits++
	}
	for {
		n := int64(1) << r.IntN(bits+1)
		n += r.Int64N(n)
		if n >= 1 && n <= int64(max) {
			return n
		}
	}
}

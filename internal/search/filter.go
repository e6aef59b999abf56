package search

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A Filter is a Bloom filter of the tokens of one block of a stream: the
// lower-cased runs of letters and digits (see isTokenByte) of every line
// that overlaps the block, whole. It answers "may hold" or "does not
// hold" for a set of tokens; it is advisory, so a filter that is missing
// or does not check out means "scan the block".
//
// Encoded: "cf1", k (1 byte), the number of bits (uint32, little endian),
// the bits, and a CRC-32 (Castagnoli) of all that.
type Filter struct {
	k    uint32
	bits []uint64
}

// BitsPerToken sizes a filter from its block's distinct tokens: 10 bits
// and 7 probes give about 1 % false positives.
const (
	BitsPerToken = 10
	probes       = 7
	filterMagic  = "cf1"
)

var (
	crcTable       = crc32.MakeTable(crc32.Castagnoli)
	errFilterShape = errors.New("not a token filter, or a damaged one")
)

// BuildFilter returns the filter of the tokens in data, which the caller
// extends to whole lines at the block's ends (see Extend).
func BuildFilter(data []byte) []byte { return buildFilter(data, nil) }

// buildFilter is BuildFilter with the token hashes extra taken in too.
func buildFilter(data []byte, extra []uint64) []byte {
	seen := make(map[uint64]struct{}, len(data)/16+len(extra))
	eachTokenHash(data, func(h uint64) { seen[h] = struct{}{} })
	for _, h := range extra {
		seen[h] = struct{}{}
	}
	words := max(1, (len(seen)*BitsPerToken+63)/64)
	f := Filter{k: probes, bits: make([]uint64, words)}
	for h := range seen {
		f.add(h)
	}
	return f.encode()
}

// ParseFilter decodes b; an error means the filter cannot be trusted.
func ParseFilter(b []byte) (Filter, error) {
	if len(b) < 12 || string(b[:3]) != filterMagic {
		return Filter{}, errFilterShape
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return Filter{}, errFilterShape
	}
	k := uint32(b[3])
	n := binary.LittleEndian.Uint32(b[4:8])
	if k == 0 || n == 0 || n%64 != 0 || int(n/8) != len(body)-8 {
		return Filter{}, errFilterShape
	}
	f := Filter{k: k, bits: make([]uint64, n/64)}
	for i := range f.bits {
		f.bits[i] = binary.LittleEndian.Uint64(body[8+8*i:])
	}
	return f, nil
}

// MayHold reports whether the block may hold every one of tokens (lower
// case, as Matcher.Tokens gives them).
func (f Filter) MayHold(tokens []string) bool {
	for _, t := range tokens {
		if !f.has(hashToken([]byte(t))) {
			return false
		}
	}
	return true
}

func (f Filter) encode() []byte {
	out := make([]byte, 0, 8+8*len(f.bits)+4)
	out = append(out, filterMagic...)
	out = append(out, byte(f.k))
	out = binary.LittleEndian.AppendUint32(out, uint32(64*len(f.bits)))
	for _, w := range f.bits {
		out = binary.LittleEndian.AppendUint64(out, w)
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

func (f Filter) add(h uint64) {
	m := uint32(64 * len(f.bits))
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := range f.k {
		bit := (h1 + i*h2) % m
		f.bits[bit/64] |= 1 << (bit % 64)
	}
}

func (f Filter) has(h uint64) bool {
	m := uint32(64 * len(f.bits))
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := range f.k {
		bit := (h1 + i*h2) % m
		if f.bits[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// FNV-1a, 64 bits, over the token in ASCII lower case: stable across
// versions and machines, as filters outlive the process that built them.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashToken(t []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range t {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// eachTokenHash calls fn with the hash of every token of data.
func eachTokenHash(data []byte, fn func(uint64)) {
	h, in := uint64(fnvOffset), false
	for _, c := range data {
		if isTokenByte(c) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h, in = (h^uint64(c))*fnvPrime, true
			continue
		}
		if in {
			fn(h)
			h, in = fnvOffset, false
		}
	}
	if in {
		fn(h)
	}
}

package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

// Record layout, little endian. Every append is one record in the active
// segment; the CRC covers everything after it, so a torn or zeroed record is
// recognised and cut off at recovery.
//
//	magic    u32  "c49r"
//	crc      u32  CRC-32C of the rest of the header, key, gen and data
//	dataLen  u32
//	keyLen   u16  len("host/stream")
//	genLen   u8
//	kind     u8   1 = stream data, 2 = journal entry (an index line)
//	offset   i64  logical offset of the first data byte in its stream, or
//	              the journal entry's sequence number
//	time     i64  unix nanoseconds when it was appended
//	genStart i64  logical offset where the generation begins
//	key, gen, data
const (
	headerSize = 40
	magic      = 0x72393463 // "c49r"
	kindData   = 1
	kindAux    = 2
	maxKey     = 253 + 1 + 128
	maxGen     = wire.MaxGeneration
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type record struct {
	kind     byte
	key      string
	gen      string
	offset   int64
	time     int64
	genStart int64
	data     []byte
}

func (r *record) size() int64 {
	return headerSize + int64(len(r.key)+len(r.gen)+len(r.data))
}

// encodeHead appends the header, key and gen; with data it appends the data
// too, else the caller writes r.data right after the returned bytes. The CRC
// covers the data either way.
func (r *record) encodeHead(buf []byte, withData bool) []byte {
	start := len(buf)
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint32(h[8:], uint32(len(r.data)))
	binary.LittleEndian.PutUint16(h[12:], uint16(len(r.key)))
	h[14] = byte(len(r.gen))
	h[15] = r.kind
	binary.LittleEndian.PutUint64(h[16:], uint64(r.offset))
	binary.LittleEndian.PutUint64(h[24:], uint64(r.time))
	binary.LittleEndian.PutUint64(h[32:], uint64(r.genStart))
	buf = append(buf, h[:]...)
	buf = append(buf, r.key...)
	buf = append(buf, r.gen...)
	var crc uint32
	if withData {
		buf = append(buf, r.data...)
		crc = crc32.Checksum(buf[start+8:], castagnoli)
	} else {
		crc = crc32.Update(crc32.Checksum(buf[start+8:], castagnoli), castagnoli, r.data)
	}
	binary.LittleEndian.PutUint32(buf[start+4:], crc)
	return buf
}

var errTorn = errors.New("torn or corrupt record")

// scanned is a record found by recovery; its slices are valid only during
// the call that receives it.
type scanned struct {
	kind     byte
	key, gen []byte
	offset   int64
	time     int64
	genStart int64
	dataPos  int64
	dataLen  int
	data     []byte // journal entries only
	bad      bool   // its CRC failed (kept by keepBad)
}

// scanSegment reads the records of f from the start, checking every CRC, and
// returns the size of the valid prefix. It reads sequentially through one
// buffer, so its memory does not grow with the segment, and it allocates
// nothing per record. With keepBad, a record whose header is sound but
// whose CRC fails is handed on anyway (a sealed segment's bit rot: its
// length and offset still hold, as the old header-only scan trusted them).
func scanSegment(f vfs.File, size int64, keepBad bool, each func(*scanned)) (valid int64, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), int(min(max(size, 4096), 1<<20)))
	var pos int64
	var r scanned
	var meta, aux []byte
	for pos < size {
		if size-pos < headerSize {
			return pos, errTorn
		}
		hdr, err := br.Peek(headerSize)
		if err != nil {
			return pos, fmt.Errorf("read record header at %d: %w", pos, err)
		}
		kind := hdr[15]
		if binary.LittleEndian.Uint32(hdr[0:]) != magic || (kind != kindData && kind != kindAux) {
			return pos, errTorn
		}
		want := binary.LittleEndian.Uint32(hdr[4:])
		dataLen := int64(binary.LittleEndian.Uint32(hdr[8:]))
		keyLen := int64(binary.LittleEndian.Uint16(hdr[12:]))
		genLen := int64(hdr[14])
		if (kind == kindData) != (keyLen > 0) || keyLen > maxKey {
			return pos, errTorn
		}
		total := headerSize + keyLen + genLen + dataLen
		if pos+total > size {
			return pos, errTorn
		}
		r = scanned{
			kind:     kind,
			offset:   int64(binary.LittleEndian.Uint64(hdr[16:])),
			time:     int64(binary.LittleEndian.Uint64(hdr[24:])),
			genStart: int64(binary.LittleEndian.Uint64(hdr[32:])),
			dataPos:  pos + headerSize + keyLen + genLen,
			dataLen:  int(dataLen),
		}
		if r.offset < 0 || r.genStart < 0 {
			return pos, errTorn
		}
		crc := crc32.Checksum(hdr[8:], castagnoli)
		br.Discard(headerSize)
		if meta, err = readFull(br, meta, int(keyLen+genLen)); err != nil {
			return pos, fmt.Errorf("read record at %d: %w", pos, err)
		}
		crc = crc32.Update(crc, castagnoli, meta)
		r.key, r.gen = meta[:keyLen], meta[keyLen:]
		if kind == kindAux {
			if aux, err = readFull(br, aux, int(dataLen)); err != nil {
				return pos, fmt.Errorf("read record at %d: %w", pos, err)
			}
			crc = crc32.Update(crc, castagnoli, aux)
			r.data = aux
		} else if crc, err = crcOf(br, crc, dataLen); err != nil {
			return pos, fmt.Errorf("read record at %d: %w", pos, err)
		}
		if r.bad = crc != want; r.bad && !keepBad {
			return pos, errTorn
		}
		each(&r)
		pos += total
	}
	return pos, nil
}

// readFull reads n bytes from br into buf, reusing it.
func readFull(br *bufio.Reader, buf []byte, n int) ([]byte, error) {
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(br, buf)
	return buf, err
}

// crcOf continues crc over the next n bytes of br without copying them.
func crcOf(br *bufio.Reader, crc uint32, n int64) (uint32, error) {
	for n > 0 {
		b, err := br.Peek(int(min(n, int64(br.Size()))))
		if err != nil {
			return crc, err
		}
		crc = crc32.Update(crc, castagnoli, b)
		br.Discard(len(b))
		n -= int64(len(b))
	}
	return crc, nil
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cis490/cis490/internal/vfs"
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
	maxGen     = 255
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

// scanned is a record found by recovery; data is not kept, only where it is.
type scanned struct {
	record
	dataPos int64
	dataLen int
}

// scanSegment reads the records of f from the start and returns them with the
// size of the valid prefix. With verify, every record's CRC is checked (the
// data is read); otherwise only headers are read, for segments sealed by a
// sync before the next one was begun.
func scanSegment(f vfs.File, size int64, verify bool, each func(scanned)) (valid int64, err error) {
	var pos int64
	hdr := make([]byte, headerSize+maxKey+maxGen)
	var body []byte
	for pos < size {
		if size-pos < headerSize {
			return pos, errTorn
		}
		if _, err := f.ReadAt(hdr[:headerSize], pos); err != nil {
			return pos, fmt.Errorf("read record header at %d: %w", pos, err)
		}
		kind := hdr[15]
		if binary.LittleEndian.Uint32(hdr[0:]) != magic || (kind != kindData && kind != kindAux) {
			return pos, errTorn
		}
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
		meta := hdr[headerSize : headerSize+keyLen+genLen]
		if _, err := f.ReadAt(meta, pos+headerSize); err != nil {
			return pos, fmt.Errorf("read record key at %d: %w", pos, err)
		}
		if verify || kind == kindAux {
			if cap(body) < int(total) {
				body = make([]byte, total)
			}
			body = body[:total]
			if _, err := f.ReadAt(body, pos); err != nil && err != io.EOF {
				return pos, fmt.Errorf("read record at %d: %w", pos, err)
			}
			if crc32.Checksum(body[8:], castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
				return pos, errTorn
			}
		}
		s := scanned{
			record: record{
				kind:     kind,
				key:      string(meta[:keyLen]),
				gen:      string(meta[keyLen:]),
				offset:   int64(binary.LittleEndian.Uint64(hdr[16:])),
				time:     int64(binary.LittleEndian.Uint64(hdr[24:])),
				genStart: int64(binary.LittleEndian.Uint64(hdr[32:])),
			},
			dataPos: pos + headerSize + keyLen + genLen,
			dataLen: int(dataLen),
		}
		if s.offset < 0 || s.genStart < 0 {
			return pos, errTorn
		}
		if kind == kindAux {
			s.data = body[total-dataLen:]
		}
		each(s)
		pos += total
	}
	return pos, nil
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cis490/cis490/internal/vfs"
)

// A sealed segment gets an index file beside it (seg-N.idx, as Kafka keeps
// .index beside each log segment), so the receiver needs neither to keep one
// extent per append in memory nor to read every record at start-up. Layout,
// little endian:
//
//	header (idxHeaderSize bytes)
//	  magic u32 "c49x", version u32, segSize i64 (the segment's size),
//	  newest i64, journalMax u64, streams u32, entries u32, tableLen u32,
//	  entriesCRC u32 (CRC-32C of the entries)
//	table: one row per stream with bytes in the segment, sorted by key
//	  keyLen u16, genLen u8, 0 u8, first u32, count u32 (its entries),
//	  firstOff i64, endOff i64, firstTime i64, lastTime i64, genStart i64,
//	  lastDay i64 (its bytes on lastTime's UTC day, for the daily quota),
//	  key, gen
//	tableCRC u32: CRC-32C of the header and the table
//	entries: one per record, grouped by stream in table order, by offset
//	  off i64, pos i64 (the data's position in the segment), time i64, n i64
//
// Start-up reads the header and the table only; a read of old bytes reads
// the entries it needs, after the entries' CRC was checked once.
const (
	idxSuffix     = ".idx"
	idxMagic      = 0x78393463 // "c49x"
	idxVersion    = 1
	idxHeaderSize = 48
	idxRowSize    = 4 + 4 + 4 + 6*8
	idxEntrySize  = 32
)

func idxName(seq uint64) string { return strings.TrimSuffix(segName(seq), segSuffix) + idxSuffix }

// idxRow is one stream's part of a segment.
type idxRow struct {
	key                                 Key
	gen                                 string
	first, count                        uint32
	firstOff, endOff                    int64
	firstTime, lastTime, genStart, last int64 // last: bytes on lastTime's day
}

// idxHead is what the header and table say about a segment.
type idxHead struct {
	segSize, newest int64
	journalMax      uint64
	entries         uint32
	entriesCRC      uint32
	entriesAt       int64
	rows            []idxRow
}

// appendEntries appends es, encoded, to b.
func appendEntries(b []byte, es []extent) []byte {
	for _, e := range es {
		b = binary.LittleEndian.AppendUint64(b, uint64(e.off))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.pos))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.time))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.n))
	}
	return b
}

// encodeIdxHead lays out the header and table of a segment's index file,
// to be followed by ents, the encoded entries of rows in order; rows must
// be sorted by key and have their counts set. It numbers the rows' entries.
func encodeIdxHead(seg *segment, rows []idxRow, ents []byte) []byte {
	var table []byte
	var n uint32
	for i := range rows {
		r := &rows[i]
		key := r.key.String()
		r.first = n
		n += r.count
		table = binary.LittleEndian.AppendUint16(table, uint16(len(key)))
		table = append(table, byte(len(r.gen)), 0)
		table = binary.LittleEndian.AppendUint32(table, r.first)
		table = binary.LittleEndian.AppendUint32(table, r.count)
		for _, v := range []int64{r.firstOff, r.endOff, r.firstTime, r.lastTime, r.genStart, r.last} {
			table = binary.LittleEndian.AppendUint64(table, uint64(v))
		}
		table = append(append(table, key...), r.gen...)
	}
	b := make([]byte, idxHeaderSize, idxHeaderSize+len(table)+4)
	b = append(b, table...)
	binary.LittleEndian.PutUint32(b[0:], idxMagic)
	binary.LittleEndian.PutUint32(b[4:], idxVersion)
	binary.LittleEndian.PutUint64(b[8:], uint64(seg.size))
	binary.LittleEndian.PutUint64(b[16:], uint64(seg.newest))
	binary.LittleEndian.PutUint64(b[24:], seg.journalMax)
	binary.LittleEndian.PutUint32(b[32:], uint32(len(rows)))
	binary.LittleEndian.PutUint32(b[36:], n)
	binary.LittleEndian.PutUint32(b[40:], uint32(len(table)))
	binary.LittleEndian.PutUint32(b[44:], crc32.Checksum(ents, castagnoli))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadIdx = errors.New("not a valid segment index")

// readIdxHead reads and checks the header and table of an index file; the
// entries are checked when first used (see segment.entriesOK).
func readIdxHead(f vfs.File) (*idxHead, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	var h [idxHeaderSize]byte
	if size < idxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadIdx, size)
	}
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(h[0:]) != idxMagic || binary.LittleEndian.Uint32(h[4:]) != idxVersion {
		return nil, fmt.Errorf("%w: unknown header", errBadIdx)
	}
	hd := &idxHead{
		segSize:    int64(binary.LittleEndian.Uint64(h[8:])),
		newest:     int64(binary.LittleEndian.Uint64(h[16:])),
		journalMax: binary.LittleEndian.Uint64(h[24:]),
		entries:    binary.LittleEndian.Uint32(h[36:]),
		entriesCRC: binary.LittleEndian.Uint32(h[44:]),
	}
	nrows := int64(binary.LittleEndian.Uint32(h[32:]))
	tableLen := int64(binary.LittleEndian.Uint32(h[40:]))
	hd.entriesAt = idxHeaderSize + tableLen + 4
	if size != hd.entriesAt+int64(hd.entries)*idxEntrySize || nrows*idxRowSize > tableLen {
		return nil, fmt.Errorf("%w: its size does not match its header", errBadIdx)
	}
	buf := make([]byte, idxHeaderSize+tableLen+4)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	if crc32.Checksum(buf[:len(buf)-4], castagnoli) != binary.LittleEndian.Uint32(buf[len(buf)-4:]) {
		return nil, fmt.Errorf("%w: its table fails its checksum", errBadIdx)
	}
	if hd.rows, err = parseRows(buf[idxHeaderSize:len(buf)-4], int(nrows), hd.entries); err != nil {
		return nil, err
	}
	return hd, nil
}

func parseRows(t []byte, n int, entries uint32) ([]idxRow, error) {
	rows := make([]idxRow, 0, n)
	for range n {
		if len(t) < idxRowSize {
			return nil, fmt.Errorf("%w: short table", errBadIdx)
		}
		keyLen, genLen := int(binary.LittleEndian.Uint16(t)), int(t[2])
		r := idxRow{first: binary.LittleEndian.Uint32(t[4:]), count: binary.LittleEndian.Uint32(t[8:])}
		v := func(i int) int64 { return int64(binary.LittleEndian.Uint64(t[12+8*i:])) }
		r.firstOff, r.endOff, r.firstTime, r.lastTime, r.genStart, r.last = v(0), v(1), v(2), v(3), v(4), v(5)
		t = t[idxRowSize:]
		if len(t) < keyLen+genLen {
			return nil, fmt.Errorf("%w: short table", errBadIdx)
		}
		host, strm, ok := strings.Cut(string(t[:keyLen]), "/")
		r.key, r.gen = Key{host, strm}, string(t[keyLen:keyLen+genLen])
		t = t[keyLen+genLen:]
		if !ok || r.count == 0 || uint64(r.first)+uint64(r.count) > uint64(entries) || r.endOff <= r.firstOff || r.firstOff < 0 {
			return nil, fmt.Errorf("%w: row for %s is inconsistent", errBadIdx, r.key)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// writeIdx writes seg's index file durably (temp file, sync, rename, sync
// the folder), so a crash leaves the whole file or none.
func (s *Store) writeIdx(seg *segment, rows []idxRow, ents []byte) error {
	head := encodeIdxHead(seg, rows, ents)
	name := filepath.Join(s.opt.Dir, idxName(seg.seq))
	if err := vfs.WriteFileAtomicParts(s.fs, name, 0o640, head, ents); err != nil {
		return fmt.Errorf("write the index of %s: %w", seg.name, err)
	}
	seg.idxSize = int64(len(head) + len(ents))
	return nil
}

// idxFile returns seg's open index file, checking its entries' CRC the first
// time: the header and table were checked at start-up, the entries only now
// that a read needs them. The caller holds the stream's lock.
func (s *Store) idxFile(seg *segment) (vfs.File, int64, error) {
	seg.ixMu.Lock()
	if seg.ix != nil || seg.ixErr != nil {
		defer seg.ixMu.Unlock()
		return seg.ix, seg.ixAt, seg.ixErr
	}
	name := filepath.Join(s.opt.Dir, idxName(seg.seq))
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		seg.ixMu.Unlock()
		return nil, 0, fmt.Errorf("open the index of %s: %w", seg.name, err)
	}
	hd, err := readIdxHead(f)
	if err == nil {
		err = checkEntries(f, hd)
	}
	if err != nil {
		f.Close()
		seg.ixMu.Unlock()
		if !errors.Is(err, errBadIdx) {
			return nil, 0, fmt.Errorf("read the index of %s: %w", seg.name, err)
		}
		return nil, 0, s.damaged(seg, err)
	}
	seg.ix, seg.ixAt = f, hd.entriesAt
	seg.ixMu.Unlock()
	return f, hd.entriesAt, nil
}

// damaged stops reads through seg's index file and has the indexer rebuild
// it from the segment's records.
func (s *Store) damaged(seg *segment, cause error) error {
	err := fmt.Errorf("the index of %s is damaged (%v); it is being rebuilt from the segment, try again in a minute", seg.name, cause)
	seg.ixMu.Lock()
	if seg.ix != nil {
		seg.ix.Close()
		seg.ix = nil
	}
	seg.ixErr = err
	seg.ixMu.Unlock()
	if !seg.rebuild.Swap(true) {
		s.opt.Log.Error("a segment index is damaged; rebuilding it", "segment", seg.name, "err", cause)
		s.wakeIndexer()
	}
	return err
}

func checkEntries(f vfs.File, hd *idxHead) error {
	n := int64(hd.entries) * idxEntrySize
	sr := io.NewSectionReader(f, hd.entriesAt, n)
	h := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(h, sr, make([]byte, min(max(n, 1), 64<<10))); err != nil {
		return err
	}
	if h.Sum32() != hd.entriesCRC {
		return fmt.Errorf("%w: its entries fail their checksum", errBadIdx)
	}
	return nil
}

// entries reads n index entries from entry i of seg's index file.
func (s *Store) entries(seg *segment, i uint32, dst []extent) ([]extent, error) {
	f, at, err := s.idxFile(seg)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, len(dst)*idxEntrySize)
	if _, err := f.ReadAt(buf, at+int64(i)*idxEntrySize); err != nil {
		return nil, fmt.Errorf("read the index of %s: %w", seg.name, err)
	}
	for j := range dst {
		e := buf[j*idxEntrySize:]
		dst[j] = extent{
			off:  int64(binary.LittleEndian.Uint64(e)),
			pos:  int64(binary.LittleEndian.Uint64(e[8:])),
			time: int64(binary.LittleEndian.Uint64(e[16:])),
			n:    int64(binary.LittleEndian.Uint64(e[24:])),
		}
		if dst[j].n <= 0 || dst[j].pos < 0 || dst[j].pos+dst[j].n > seg.size {
			return nil, s.damaged(seg, errors.New("an entry points outside the segment"))
		}
	}
	return dst, nil
}

// searchIdx returns the index (within sp's entries) of the first entry for
// which less reports false; entries are read one at a time, so a lookup
// costs a few small reads, not the whole table.
func (s *Store) searchIdx(sp *span, less func(extent) bool) (uint32, error) {
	lo, hi := uint32(0), sp.count
	var one [1]extent
	for lo < hi {
		m := lo + (hi-lo)/2
		es, err := s.entries(sp.seg, sp.first+m, one[:])
		if err != nil {
			return 0, err
		}
		if less(es[0]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, nil
}

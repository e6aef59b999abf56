package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cis490/cis490/internal/vfs"
)

// A sealed, indexed segment gets a filter file beside it (seg-N.flt): for
// every stream with bytes in the segment, one token filter per block of up
// to FilterBlock of its bytes, built by Options.BuildFilter in the
// indexer's goroutine, never on the append path. Filters are advisory: a
// search scans a block whose filter is missing or damaged, and a damaged
// file is rebuilt. Retention deletes it with its segment. Layout, little
// endian:
//
//	magic "c49f", version u32, rows u32, tableLen u32
//	table: per block, sorted by key then offset:
//	  keyLen u16, from i64, to i64, pos u32 (of its filter, from the
//	  filters' start), size u32, key
//	tableCRC u32: CRC-32C of all the above
//	filters: each as BuildFilter made it (it checks itself)
const (
	fltSuffix   = ".flt"
	fltMagic    = "c49f"
	fltVersion  = 1
	FilterBlock = 1 << 20
	// filterContext is how much of a stream before and after a block
	// BuildFilter is given: the longest line a search reads.
	filterContext = 64 << 10
)

func fltName(seq uint64) string { return strings.TrimSuffix(segName(seq), segSuffix) + fltSuffix }

// Filter is the token filter of one block of a stream, [From, To).
type Filter struct {
	From, To int64
	Data     []byte
	// Edge is what the block's last byte says of the line at To, if the
	// store knows: a search that skips the block need not read it.
	Edge Edge
}

// Edge is whether a line starts at the end of a filter's block.
type Edge int8

const (
	EdgeUnknown  Edge = iota
	EdgeLineEnds      // the block's last byte is a newline: a line starts at To
	EdgeMidLine       // the line at To began in the block (its filter holds it whole)
)

// fltRow is one block in a filter file's table.
type fltRow struct {
	key       Key
	from, to  int64
	pos, size uint32
}

// fltTable is a filter file's table, read once.
type fltTable struct {
	rows      []fltRow
	filtersAt int64
}

var errBadFlt = errors.New("damaged filter file")

// Filters returns the filters of key's blocks that overlap [from, to), in
// offset order, from the segments whose filter file is built and checks
// out; the rest of the range has none (scan it).
func (s *Store) Filters(_ context.Context, key Key, from, to int64) ([]Filter, error) {
	s.mu.RLock()
	segs := slices.Clone(s.segs)
	s.mu.RUnlock()
	var out []Filter
	for _, seg := range segs {
		t := s.fltTableOf(seg)
		if t == nil {
			continue
		}
		// The key's blocks overlapping the range: adjacent rows, whose
		// filters lie one after another in the file.
		i, _ := slices.BinarySearchFunc(t.rows, key, func(r fltRow, k Key) int { return compareKeys(r.key, k) })
		for i < len(t.rows) && t.rows[i].key == key && t.rows[i].to <= from {
			i++
		}
		j := i
		for j < len(t.rows) && t.rows[j].key == key && t.rows[j].from < to {
			j++
		}
		if i == j {
			continue
		}
		first, last := t.rows[i], t.rows[j-1]
		data, err := s.readFilters(seg, t.filtersAt+int64(first.pos), int64(last.pos+last.size-first.pos))
		if err != nil {
			continue // advisory: scan those blocks
		}
		for _, r := range t.rows[i:j] {
			at := int64(r.pos - first.pos)
			out = append(out, Filter{From: r.from, To: r.to, Data: data[at : at+int64(r.size) : at+int64(r.size)]})
		}
	}
	slices.SortFunc(out, func(a, b Filter) int { return int(a.From - b.From) })
	return out, nil
}

// fltTableOf returns seg's filter table, reading it the first time; nil
// when there is none or it is damaged (then it is removed, to be rebuilt).
func (s *Store) fltTableOf(seg *segment) *fltTable {
	seg.fltMu.Lock()
	defer seg.fltMu.Unlock()
	if seg.flt != nil || !seg.filtered {
		return seg.flt
	}
	name := filepath.Join(s.opt.Dir, fltName(seg.seq))
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		seg.filtered = false
		return nil
	}
	t, err := readFltTable(f)
	if err != nil {
		f.Close()
		s.opt.Log.Warn("a search filter file is damaged; removing it to build it again", "file", fltName(seg.seq), "err", err)
		s.fs.Remove(name)
		seg.filtered = false
		s.wakeIndexer()
		return nil
	}
	// Kept open: a search reads every stream's filters of the segment,
	// and an open per stream was most of a rare word's time.
	seg.flt, seg.fltFile = t, f
	return t
}

// readFilters reads n bytes of seg's filter file at pos.
func (s *Store) readFilters(seg *segment, pos, n int64) ([]byte, error) {
	seg.fltMu.Lock()
	f := seg.fltFile
	seg.fltMu.Unlock()
	if f == nil {
		return nil, errBadFlt // rebuilt or dropped meanwhile: scan
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, pos); err != nil {
		return nil, err
	}
	return b, nil
}

func readFltTable(f interface {
	ReadAt([]byte, int64) (int, error)
}) (*fltTable, error) {
	var head [16]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadFlt, err)
	}
	if string(head[:4]) != fltMagic || binary.LittleEndian.Uint32(head[4:]) != fltVersion {
		return nil, fmt.Errorf("%w: not a version %d filter file", errBadFlt, fltVersion)
	}
	n, tlen := binary.LittleEndian.Uint32(head[8:]), binary.LittleEndian.Uint32(head[12:])
	if tlen > 256<<20 {
		return nil, fmt.Errorf("%w: a table of %d bytes", errBadFlt, tlen)
	}
	buf := make([]byte, 16+int(tlen)+4)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadFlt, err)
	}
	if crc32.Checksum(buf[:16+tlen], castagnoli) != binary.LittleEndian.Uint32(buf[16+tlen:]) {
		return nil, fmt.Errorf("%w: the table's checksum does not match", errBadFlt)
	}
	t := &fltTable{filtersAt: int64(len(buf))}
	p := buf[16 : 16+tlen]
	for range n {
		if len(p) < 30 {
			return nil, fmt.Errorf("%w: the table is short", errBadFlt)
		}
		kl := int(binary.LittleEndian.Uint16(p))
		r := fltRow{from: int64(binary.LittleEndian.Uint64(p[2:])), to: int64(binary.LittleEndian.Uint64(p[10:])),
			pos: binary.LittleEndian.Uint32(p[18:]), size: binary.LittleEndian.Uint32(p[22:])}
		p = p[26:]
		if len(p) < kl {
			return nil, fmt.Errorf("%w: the table is short", errBadFlt)
		}
		host, stream, ok := strings.Cut(string(p[:kl]), "/")
		if !ok {
			return nil, fmt.Errorf("%w: a key without a stream", errBadFlt)
		}
		r.key = Key{Host: host, Stream: stream}
		p = p[kl:]
		t.rows = append(t.rows, r)
	}
	return t, nil
}

// filterIndexed builds the filter file of every indexed segment that has
// none, oldest first; it stops at the first failure. The caller is the
// indexer's goroutine.
func (s *Store) filterIndexed() error {
	if s.opt.BuildFilter == nil {
		return nil
	}
	for {
		s.retainMu.Lock() // retention must not delete the segment meanwhile
		var seg *segment
		s.mu.RLock()
		for _, sg := range s.segs[:len(s.segs)-1] {
			sg.fltMu.Lock()
			need := sg.indexed && !sg.filtered
			sg.fltMu.Unlock()
			if need {
				seg = sg
				break
			}
		}
		s.mu.RUnlock()
		if seg == nil {
			s.retainMu.Unlock()
			return nil
		}
		err := s.buildFilters(seg)
		s.retainMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// buildFilters writes seg's filter file. The caller holds retainMu.
func (s *Store) buildFilters(seg *segment) error {
	f, err := s.fs.OpenFile(filepath.Join(s.opt.Dir, idxName(seg.seq)), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open the index of %s: %w", seg.name, err)
	}
	hd, err := readIdxHead(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read the index of %s: %w", seg.name, err)
	}
	var table, filters []byte
	var rows uint32
	ctx := context.Background()
	for _, row := range hd.rows {
		for from := row.firstOff; from < row.endOff; from += FilterBlock {
			to := min(from+FilterBlock, row.endOff)
			lo := max(0, from-filterContext)
			data, info, err := s.Read(ctx, row.key, lo, int(to+filterContext-lo))
			if err != nil {
				return fmt.Errorf("read %s to build its search filter: %w", row.key, err)
			}
			if info.Start > from {
				continue // retention took it: nothing to search
			}
			at := lo
			if info.Start > lo {
				at = info.Start // Read begins at the stream's start
			}
			before, rest := data[:from-at], data[from-at:]
			block, after := rest[:min(int64(len(rest)), to-from)], rest[min(int64(len(rest)), to-from):]
			flt := s.opt.BuildFilter(before, block, after)
			if flt == nil {
				// The stream's last line is still open (the segment was
				// sealed before the rest came): filter the block up to its
				// last line end; the open line's start is scanned.
				nl := bytes.LastIndexByte(block, '\n')
				if nl < 0 {
					continue
				}
				to, block, after = from+int64(nl)+1, block[:nl+1], block[nl+1:]
				if flt = s.opt.BuildFilter(before, block, after); flt == nil {
					continue
				}
			}
			k := row.key.Host + "/" + row.key.Stream
			table = binary.LittleEndian.AppendUint16(table, uint16(len(k)))
			table = binary.LittleEndian.AppendUint64(table, uint64(from))
			table = binary.LittleEndian.AppendUint64(table, uint64(to))
			table = binary.LittleEndian.AppendUint32(table, uint32(len(filters)))
			table = binary.LittleEndian.AppendUint32(table, uint32(len(flt)))
			table = append(table, k...)
			filters = append(filters, flt...)
			rows++
		}
	}
	head := []byte(fltMagic)
	head = binary.LittleEndian.AppendUint32(head, fltVersion)
	head = binary.LittleEndian.AppendUint32(head, rows)
	head = binary.LittleEndian.AppendUint32(head, uint32(len(table)))
	head = append(head, table...)
	head = binary.LittleEndian.AppendUint32(head, crc32.Checksum(head, castagnoli))
	name := filepath.Join(s.opt.Dir, fltName(seg.seq))
	if err := vfs.WriteFileAtomicParts(s.fs, name, 0o640, head, filters); err != nil {
		return fmt.Errorf("write the search filters of %s: %w", seg.name, err)
	}
	seg.fltMu.Lock()
	seg.closeFilters()
	seg.filtered = true
	seg.fltMu.Unlock()
	return nil
}

// closeFilters forgets seg's filter table and closes its file; the caller
// holds fltMu.
func (seg *segment) closeFilters() {
	if seg.fltFile != nil {
		seg.fltFile.Close()
	}
	seg.flt, seg.fltFile = nil, nil
}

// removeFilters deletes seg's filter file, if any (retention).
func (s *Store) removeFilters(seg *segment) error {
	err := s.fs.Remove(filepath.Join(s.opt.Dir, fltName(seg.seq)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// fltState is a segment's filter file, as far as known.
type fltState struct {
	fltMu    sync.Mutex
	filtered bool      // its filter file exists (not yet read, perhaps)
	flt      *fltTable // its table, once read
	fltFile  vfs.File  // open once the table is read
}

package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Parser reads journalctl's export format: entries of fields separated by
// an empty line, each field either "KEY=value\n" or, when the value may
// hold any byte, "KEY\n" then its size as a little-endian uint64, the
// bytes and "\n" (https://systemd.io/JOURNAL_EXPORT_FORMATS/).
type Parser struct {
	r      *bufio.Reader
	keyBuf []byte // the field name being read, reused: most fields are not kept
}

// NewParser reads from r.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: bufio.NewReaderSize(r, 64<<10)}
}

// ErrFormat means the input is not the export format.
var ErrFormat = errors.New("not journal export format")

// maxBinary bounds a binary field's announced size: no journal field is
// this big, and a larger number means the stream is out of step.
const maxBinary = 1 << 40

// Next returns the next entry. io.EOF means the input ended between
// entries; io.ErrUnexpectedEOF that it ended inside one (journalctl killed
// mid-entry): that entry is not returned, so a torn entry is never
// shipped.
func (p *Parser) Next() (Entry, error) {
	var e Entry
	var realtime, priority string
	fields := 0
	for {
		key, text, err := p.key()
		if err != nil {
			if errors.Is(err, io.EOF) && fields > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Entry{}, err
		}
		if len(key) == 0 {
			if fields == 0 {
				continue // stray blank lines between entries
			}
			e.finish(realtime, priority)
			return e, nil
		}
		fields++
		small, msg := e.field(key)
		switch string(key) {
		case "__REALTIME_TIMESTAMP":
			small = &realtime
		case "PRIORITY":
			small = &priority
		}
		limit := 0
		switch {
		case msg:
			limit = MaxMessage
		case small != nil:
			limit = maxSmall
		}
		var val []byte
		var size int64
		if text {
			val, size, err = p.textValue(limit)
		} else {
			val, size, err = p.binaryValue(limit)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Entry{}, err
		}
		switch {
		case msg:
			e.Message, e.MessageSize = val, size
		case small != nil:
			*small = string(val)
		}
	}
}

// key reads a field name and whether a text value follows ("=") or a
// binary one ("\n"). An empty key is the blank line ending an entry.
func (p *Parser) key() (key []byte, text bool, err error) {
	buf := p.keyBuf[:0]
	defer func() { p.keyBuf = buf[:0] }()
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		switch c {
		case '=':
			if len(buf) == 0 {
				return nil, false, fmt.Errorf("%w: a field with no name", ErrFormat)
			}
			return buf, true, nil
		case '\n':
			return buf, false, nil
		}
		if len(buf) >= maxKey {
			return nil, false, fmt.Errorf("%w: a field name longer than %d bytes", ErrFormat, maxKey)
		}
		buf = append(buf, c)
	}
}

// textValue reads up to the newline, keeping at most limit bytes, and
// returns the value's full size.
func (p *Parser) textValue(limit int) ([]byte, int64, error) {
	var val []byte
	var size int64
	for {
		chunk, err := p.r.ReadSlice('\n')
		done := err == nil
		if done {
			chunk = chunk[:len(chunk)-1]
		} else if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, 0, err
		}
		size += int64(len(chunk))
		if keep := min(len(chunk), limit-len(val)); keep > 0 {
			val = append(val, chunk[:keep]...)
		}
		if done {
			return val, size, nil
		}
	}
}

// binaryValue reads a size-prefixed value, keeping at most limit bytes.
func (p *Parser) binaryValue(limit int) ([]byte, int64, error) {
	var n [8]byte
	if _, err := io.ReadFull(p.r, n[:]); err != nil {
		return nil, 0, err
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > maxBinary {
		return nil, 0, fmt.Errorf("%w: a binary field of %d bytes", ErrFormat, size)
	}
	keep := int(min(size, uint64(limit)))
	val := make([]byte, keep)
	if _, err := io.ReadFull(p.r, val); err != nil {
		return nil, 0, err
	}
	// In steps: where int is 32 bits a field may be larger than one.
	for rest := int64(size) - int64(keep); rest > 0; {
		step := int(min(rest, 1<<30))
		if _, err := p.r.Discard(step); err != nil {
			return nil, 0, err
		}
		rest -= int64(step)
	}
	switch c, err := p.r.ReadByte(); {
	case err != nil:
		return nil, 0, err
	case c != '\n':
		return nil, 0, fmt.Errorf("%w: a binary field not followed by a newline", ErrFormat)
	}
	if limit == 0 {
		val = nil
	}
	return val, int64(size), nil
}

package journal

import (
	"strconv"
	"strings"
)

// Entry is the part of a journal entry a stream line needs. Other fields
// are read past, never kept: an entry costs at most MaxMessage plus a few
// small fields, whatever journalctl sends.
type Entry struct {
	Cursor     string // __CURSOR
	Realtime   int64  // __REALTIME_TIMESTAMP, µs since the epoch; -1 when absent
	Boot       string // _BOOT_ID
	Unit       string // _SYSTEMD_UNIT
	UserUnit   string // _SYSTEMD_USER_UNIT
	Identifier string // SYSLOG_IDENTIFIER
	Comm       string // _COMM
	PID        string // _PID
	SyslogPID  string // SYSLOG_PID
	Priority   int    // PRIORITY, 0 (emerg) to 7 (debug); -1 when absent or not a digit
	Transport  string // _TRANSPORT
	Message    []byte // MESSAGE, at most MaxMessage bytes of it
	// MessageSize is MESSAGE's full size: more than len(Message) when it
	// was cut.
	MessageSize int64
}

// Limits on what an entry keeps. They are constants, not settings: a line
// must be the same bytes whenever its entry is read again.
const (
	// MaxMessage is the most of a MESSAGE a line carries; the rest is
	// named, not shipped (a 100 MB core dump message must not hold the
	// shipper's memory).
	MaxMessage = 16 << 10
	// maxSmall bounds every other field kept (unit names, identifiers,
	// ids): longer values are cut.
	maxSmall = 256
	// maxKey bounds a field name: journald allows 64 bytes; anything far
	// longer is not the export format.
	maxKey = 512
)

// field is where a known field goes; nil for fields that are not kept.
func (e *Entry) field(key []byte) (small *string, msg bool) {
	switch string(key) {
	case "MESSAGE":
		return nil, true
	case "__CURSOR":
		return &e.Cursor, false
	case "_BOOT_ID":
		return &e.Boot, false
	case "_SYSTEMD_UNIT":
		return &e.Unit, false
	case "_SYSTEMD_USER_UNIT":
		return &e.UserUnit, false
	case "SYSLOG_IDENTIFIER":
		return &e.Identifier, false
	case "_COMM":
		return &e.Comm, false
	case "_PID":
		return &e.PID, false
	case "SYSLOG_PID":
		return &e.SyslogPID, false
	case "_TRANSPORT":
		return &e.Transport, false
	}
	return nil, false
}

// finish turns the raw fields kept as strings into their values.
func (e *Entry) finish(realtime, priority string) {
	e.Realtime = -1
	if n, err := strconv.ParseInt(realtime, 10, 64); err == nil && n >= 0 {
		e.Realtime = n
	}
	e.Priority = -1
	if len(priority) == 1 && priority[0] >= '0' && priority[0] <= '7' {
		e.Priority = int(priority[0] - '0')
	}
}

// Seqnum reads the sequence number id and number a cursor carries
// ("s=<id>;i=<hex>;..."): entries of one journal are numbered in the
// order journald wrote them, so two cursors of one id tell how many
// entries lie between them. ok is false when the cursor has neither.
func Seqnum(cursor string) (id string, n uint64, ok bool) {
	var haveI bool
	for part := range strings.SplitSeq(cursor, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "s":
			id = v
		case "i":
			x, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return "", 0, false
			}
			n, haveI = x, true
		}
	}
	return id, n, id != "" && haveI
}

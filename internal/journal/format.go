package journal

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// priorities names syslog priorities as journalctl -p takes them.
var priorities = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// PriorityName is p's name, "-" when the entry has none.
func PriorityName(p int) string {
	if p < 0 || p >= len(priorities) {
		return "-"
	}
	return priorities[p]
}

// ParsePriority reads a priority by name (journalctl's, plus "error",
// "warn" and "emergency") or number 0–7.
func ParsePriority(s string) (int, bool) {
	switch s {
	case "error":
		return 3, true
	case "warn":
		return 4, true
	case "emergency", "panic":
		return 0, true
	}
	for i, n := range priorities {
		if s == n || s == strconv.Itoa(i) {
			return i, true
		}
	}
	return 0, false
}

// Line is the stream line of an entry: a pure function of the entry, so
// the same entry read again (after a crash) is the same bytes.
//
//	2026-12-07T14:03:07.123456Z 3f2a9c1d info ssh.service sshd[812]: Accepted publickey for ana
//
// Fields, space-separated: the entry's __REALTIME_TIMESTAMP (when journald
// stored it) in RFC 3339 UTC with microseconds; the first 8 hex digits of
// its boot id; its priority name; its unit (_SYSTEMD_UNIT, "kernel" for
// the kernel's messages, "-" for none); its identifier (SYSLOG_IDENTIFIER,
// else _COMM, else "-") with [pid] when known; then ": " and MESSAGE.
// Bytes that would break the line are escaped: '\\' as "\\\\", newline as
// "\\n", tab as "\\t", other control bytes and bytes that are not UTF-8 as
// "\\xHH". A MESSAGE longer than MaxMessage bytes is cut there and
// followed by " [cis490: message cut at 16384 of N bytes]".
func Line(e Entry) []byte {
	b := make([]byte, 0, 80+len(e.Message))
	if e.Realtime >= 0 {
		b = time.UnixMicro(e.Realtime).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = appendWord(b, e.Boot[:min(len(e.Boot), 8)])
	b = append(b, ' ')
	b = append(b, PriorityName(e.Priority)...)
	b = append(b, ' ')
	unit := e.Unit
	if unit == "" && e.Transport == "kernel" {
		unit = "kernel"
	}
	b = appendWord(b, unit)
	b = append(b, ' ')
	ident := e.Identifier
	if ident == "" {
		ident = e.Comm
	}
	b = appendWord(b, ident)
	pid := e.PID
	if pid == "" {
		pid = e.SyslogPID
	}
	if pid != "" {
		b = append(b, '[')
		b = appendEscaped(b, []byte(pid), true)
		b = append(b, ']')
	}
	b = append(b, ':', ' ')
	b = appendEscaped(b, e.Message, false)
	if e.MessageSize > int64(len(e.Message)) {
		b = append(b, " [cis490: message cut at "...)
		b = strconv.AppendInt(b, int64(len(e.Message)), 10)
		b = append(b, " of "...)
		b = strconv.AppendInt(b, e.MessageSize, 10)
		b = append(b, " bytes]"...)
	}
	return append(b, '\n')
}

// appendWord appends s as one space-free field, "-" when empty.
func appendWord(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, []byte(s), true)
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends p with what would break a line escaped; in a word
// a space is escaped too ("\\x20"), so fields stay apart.
func appendEscaped(b, p []byte, word bool) []byte {
	for len(p) > 0 {
		c := p[0]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(p)
			if r == utf8.RuneError && n == 1 {
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			} else {
				b = append(b, p[:n]...)
			}
			p = p[n:]
			continue
		}
		switch {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == 0x7f || (word && c == ' '):
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
		p = p[1:]
	}
	return b
}

package index

import (
	"strconv"
	"unicode/utf8"
)

// appendLine appends l as one JSON object, the same as MarshalJSON but
// without reflection: it runs for every request, on the ingest path.
func appendLine(b []byte, l *Line) []byte {
	b = append(b, `{"ts":"`...)
	b = l.TS.UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","host":`...)
	b = appendString(b, l.Host)
	b = append(b, `,"auth":`...)
	b = strconv.AppendBool(b, l.Auth)
	b = append(b, `,"cert_host":`...)
	b = appendString(b, l.CertHost)
	b = append(b, `,"method":`...)
	b = appendString(b, l.Method)
	b = append(b, `,"endpoint":`...)
	b = appendString(b, l.Endpoint)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, l.Bytes, 10)
	b = append(b, `,"commit":`...)
	b = appendString(b, l.Commit)
	b = append(b, `,"instance":`...)
	b = appendString(b, l.Instance)
	b = append(b, `,"reason":`...)
	b = appendString(b, l.Reason)
	b = append(b, `,"remote":`...)
	b = appendString(b, l.Remote)
	b = append(b, `,"dur_ms":`...)
	b = strconv.AppendFloat(b, l.DurMS, 'f', -1, 64)
	for _, f := range [...]struct{ key, val string }{
		{`,"stream":`, l.Stream}, {`,"state":`, l.State}, {`,"admin":`, l.Admin}, {`,"gate":`, l.Gate},
		{`,"cert_expires":`, l.CertExpires}, {`,"quota":`, l.Quota}, {`,"lost_cause":`, l.LostCause},
		{`,"pattern":`, l.Pattern}, {`,"search_mode":`, l.SearchMode}, {`,"window":`, l.Window},
	} {
		if f.val != "" {
			b = append(b, f.key...)
			b = appendString(b, f.val)
		}
	}
	for _, f := range [...]struct {
		key string
		val int64
	}{{`,"quota_used":`, l.QuotaUsed}, {`,"quota_limit":`, l.QuotaLimit}, {`,"lost":`, l.Lost}, {`,"lost_entries":`, l.LostEntries}} {
		if f.val != 0 {
			b = append(b, f.key...)
			b = strconv.AppendInt(b, f.val, 10)
		}
	}
	if l.Count != 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(l.Count), 10)
	}
	if l.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, l.Seq, 10)
	}
	return append(b, '}')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does:
// control characters, quotes, backslashes, <, >, & and U+2028/U+2029
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

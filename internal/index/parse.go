package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var errMalformed = errors.New("not an index line")

// parseLine reads one index line (without its newline) into l. The index
// writer's own lines take a fast path, as a full read of the index is
// mostly parsing; anything else valid is read by encoding/json.
func parseLine(b []byte, l *Line, seen strs) error {
	*l = Line{}
	if err := fastParse(b, l, seen); err == nil {
		return nil
	}
	*l = Line{}
	if err := json.Unmarshal(b, l); err != nil || l.TS.IsZero() {
		*l = Line{}
		return errMalformed
	}
	return nil
}

var errSlow = errors.New("take the slow path")

// knownKeys are Line's keys; kindOf gives the JSON type of each, as the
// fast path must refuse what encoding/json would refuse. kindOf's switch
// repeats them because it runs for every key of every line;
// TestKnownKeysMatchTheLine keeps both in step with Line.
var knownKeys = []string{"ts", "host", "cert_host", "admin", "method", "endpoint", "commit", "instance",
	"reason", "state", "gate", "remote", "stream", "cert_expires", "quota", "lost_cause", "auth", "status", "bytes", "count", "quota_used", "quota_limit",
	"lost", "lost_entries", "seq", "dur_ms"}

// kindOf returns the type a key must have, 0 for a key Line does not
// know, or errSlow for a key encoding/json would match by case folding.
func kindOf(key []byte) (byte, error) {
	switch string(key) {
	case "ts", "host", "cert_host", "admin", "method", "endpoint", "commit", "instance",
		"reason", "state", "gate", "remote", "stream", "cert_expires", "quota", "lost_cause":
		return 's', nil
	case "auth":
		return 'b', nil
	case "status", "bytes", "count", "quota_used", "quota_limit", "lost", "lost_entries":
		return 'i', nil
	case "seq":
		return 'u', nil
	case "dur_ms":
		return 'f', nil
	}
	for _, known := range knownKeys {
		if strings.EqualFold(known, string(key)) {
			return 0, errSlow
		}
	}
	return 0, nil
}

// fastParse reads a flat JSON object whose strings hold no escapes, as the
// index writer writes them; it gives up (errSlow) on anything else.
func fastParse(b []byte, l *Line, seen strs) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errSlow
	}
	i++
	sawTS, afterComma := false, false
	for {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' && !afterComma {
			if skipSpace(b, i+1) != len(b) || !sawTS {
				return errSlow
			}
			return nil
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return errSlow
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return errSlow
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return errSlow
		}
		kind, err := kindOf(key)
		if err != nil {
			return err
		}
		var end int
		switch c := b[i]; {
		case c == 'n' && bytes.HasPrefix(b[i:], []byte("null")):
			end = i + 4 // encoding/json leaves the field as it is
		case kind != 0 && !fits(kind, c):
			return errSlow // a known key with a value of the wrong type
		case c == '"':
			s, j, ok := plainString(b, i)
			if !ok {
				return errSlow
			}
			end = j
			switch string(key) {
			case "ts":
				t, err := time.Parse(time.RFC3339Nano, string(s))
				if err != nil {
					return errSlow
				}
				l.TS, sawTS = t.UTC(), true
			case "host":
				l.Host = seen.get(s)
			case "cert_host":
				l.CertHost = seen.get(s)
			case "admin":
				l.Admin = seen.get(s)
			case "method":
				l.Method = seen.get(s)
			case "endpoint":
				l.Endpoint = seen.get(s)
			case "commit":
				l.Commit = seen.get(s)
			case "instance":
				l.Instance = seen.get(s)
			case "reason":
				l.Reason = seen.get(s)
			case "state":
				l.State = seen.get(s)
			case "gate":
				l.Gate = seen.get(s)
			case "cert_expires":
				l.CertExpires = seen.get(s)
			case "quota":
				l.Quota = seen.get(s)
			case "lost_cause":
				l.LostCause = seen.get(s)
			case "remote":
				l.Remote = seen.get(s)
			case "stream":
				l.Stream = seen.get(s)
			}
		case c == 't' && bytes.HasPrefix(b[i:], []byte("true")):
			end = i + 4
			if string(key) == "auth" {
				l.Auth = true
			}
		case c == 'f' && bytes.HasPrefix(b[i:], []byte("false")):
			end = i + 5
			if string(key) == "auth" {
				l.Auth = false // a repeated key: the last one counts, as in encoding/json
			}
		case c == '-' || (c >= '0' && c <= '9'):
			end = i
			for end < len(b) && (b[end] == '-' || b[end] == '+' || b[end] == '.' || b[end] == 'e' || b[end] == 'E' || (b[end] >= '0' && b[end] <= '9')) {
				end++
			}
			num := string(b[i:end])
			if !jsonNumber(num) {
				return errSlow
			}
			switch string(key) {
			case "status":
				n, err := strconv.Atoi(num)
				if err != nil {
					return errSlow
				}
				l.Status = n
			case "count":
				n, err := strconv.Atoi(num)
				if err != nil {
					return errSlow
				}
				l.Count = n
			case "seq":
				n, err := strconv.ParseUint(num, 10, 64)
				if err != nil {
					return errSlow
				}
				l.Seq = n
			case "bytes":
				n, err := strconv.ParseInt(num, 10, 64)
				if err != nil {
					return errSlow
				}
				l.Bytes = n
			case "quota_used", "quota_limit", "lost", "lost_entries":
				n, err := strconv.ParseInt(num, 10, 64)
				if err != nil {
					return errSlow
				}
				switch string(key) {
				case "quota_used":
					l.QuotaUsed = n
				case "quota_limit":
					l.QuotaLimit = n
				case "lost":
					l.Lost = n
				default:
					l.LostEntries = n
				}
			case "dur_ms":
				f, err := strconv.ParseFloat(num, 64)
				if err != nil {
					return errSlow
				}
				l.DurMS = f
			default:
				// A key Line does not know: its number, valid JSON, is ignored.
			}
		default:
			return errSlow // nested values: let encoding/json judge
		}
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i, afterComma = i+1, true
			continue
		}
		if i < len(b) && b[i] == '}' {
			afterComma = false
			continue
		}
		return errSlow
	}
}

// strs hands out one string per distinct value read. An index repeats a
// few values (hosts, commits, endpoints, addresses) on many lines, and a
// fresh string per field per line was most of a full read's garbage. It
// is bounded, so a read of any length keeps little.
type strs map[string]string

// maxStrs bounds a strs: well above a fleet's hosts and addresses.
const maxStrs = 1 << 14

func (m strs) get(b []byte) string {
	if s, ok := m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if m != nil && len(m) < maxStrs {
		m[s] = s
	}
	return s
}

// fits reports whether a value starting with c can be of the kind.
func fits(kind, c byte) bool {
	switch kind {
	case 's':
		return c == '"'
	case 'b':
		return c == 't' || c == 'f'
	}
	return c == '-' || (c >= '0' && c <= '9')
}

// jsonNumber reports whether s is a number by JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, n = i+1, n+1
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// plainString reads a JSON string starting at b[i] == '"' that has no
// escapes and no control characters, and is valid UTF-8.
func plainString(b []byte, i int) (s []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	high := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			return s, j + 1, !high || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= 0x80:
			high = true
		}
	}
	return nil, 0, false
}

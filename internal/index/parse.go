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
func parseLine(b []byte, l *Line, seen *strs) error {
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

// knownKeys are Line's keys; keyOf gives the field and JSON type of each,
// as the fast path must refuse what encoding/json would refuse. keyOf's switch
// repeats them because it runs for every key of every line;
// TestKnownKeysMatchTheLine keeps both in step with Line.
var knownKeys = []string{"ts", "host", "cert_host", "admin", "method", "endpoint", "commit", "instance",
	"reason", "state", "gate", "remote", "stream", "cert_expires", "quota", "lost_cause", "auth", "status", "bytes", "count", "quota_used", "quota_limit",
	"lost", "lost_entries", "seq", "dur_ms", "pattern", "search_mode", "window"}

// field is a key of Line, as fastParse tells them apart: by number, so
// a line's keys are compared with the known ones once, not once for the
// type and again for the value.
type field uint8

const (
	fUnknown field = iota
	fTS
	fHost
	fCertHost
	fAdmin
	fMethod
	fEndpoint
	fCommit
	fInstance
	fReason
	fState
	fGate
	fRemote
	fStream
	fCertExpires
	fQuota
	fLostCause
	fAuth
	fStatus
	fBytes
	fCount
	fQuotaUsed
	fQuotaLimit
	fLost
	fLostEntries
	fSeq
	fDurMS
	// Strings that only a search's line has: not in strs' per-field
	// memory (fHost to fLostCause), as they rarely repeat.
	fPattern
	fSearchMode
	fWindow
	fLast = fWindow
)

// keyOf returns the field of a key and the type it must have (0 for a key
// Line does not know), or errSlow for a key encoding/json would match by
// case folding.
func keyOf(key []byte) (field, byte, error) {
	switch string(key) {
	case "ts":
		return fTS, 's', nil
	case "host":
		return fHost, 's', nil
	case "cert_host":
		return fCertHost, 's', nil
	case "admin":
		return fAdmin, 's', nil
	case "method":
		return fMethod, 's', nil
	case "endpoint":
		return fEndpoint, 's', nil
	case "commit":
		return fCommit, 's', nil
	case "instance":
		return fInstance, 's', nil
	case "reason":
		return fReason, 's', nil
	case "state":
		return fState, 's', nil
	case "gate":
		return fGate, 's', nil
	case "remote":
		return fRemote, 's', nil
	case "stream":
		return fStream, 's', nil
	case "cert_expires":
		return fCertExpires, 's', nil
	case "quota":
		return fQuota, 's', nil
	case "lost_cause":
		return fLostCause, 's', nil
	case "auth":
		return fAuth, 'b', nil
	case "status":
		return fStatus, 'i', nil
	case "bytes":
		return fBytes, 'i', nil
	case "count":
		return fCount, 'i', nil
	case "quota_used":
		return fQuotaUsed, 'i', nil
	case "quota_limit":
		return fQuotaLimit, 'i', nil
	case "lost":
		return fLost, 'i', nil
	case "lost_entries":
		return fLostEntries, 'i', nil
	case "seq":
		return fSeq, 'u', nil
	case "dur_ms":
		return fDurMS, 'f', nil
	case "pattern":
		return fPattern, 's', nil
	case "search_mode":
		return fSearchMode, 's', nil
	case "window":
		return fWindow, 's', nil
	}
	for _, known := range knownKeys {
		if strings.EqualFold(known, string(key)) {
			return fUnknown, 0, errSlow
		}
	}
	return fUnknown, 0, nil
}

// keyLits, keyKinds and keyNext let fastParse take the writer's own
// lines key by key without scanning keys: keyLits is each field's key as
// the writer writes it (quoted, then the colon), keyKinds its type, and
// keyNext the field the writer most often puts after it (appendLine's
// order; optional keys: the commonest). A line in another order, or
// with spaces, still parses, through keyOf.
var (
	keyLits  [fLast + 1]string
	keyKinds [fLast + 1]byte
	keyNext  = [fLast + 1]field{
		fTS: fHost, fHost: fAuth, fAuth: fCertHost, fCertHost: fMethod, fMethod: fEndpoint, fEndpoint: fStatus,
		fStatus: fBytes, fBytes: fCommit, fCommit: fInstance, fInstance: fReason, fReason: fRemote,
		fRemote: fDurMS, fDurMS: fStream, fStream: fGate, fState: fGate, fAdmin: fGate, fGate: fCertExpires,
		fCertExpires: fSeq, fQuota: fQuotaUsed, fLostCause: fQuotaUsed, fQuotaUsed: fQuotaLimit,
		fQuotaLimit: fSeq, fLost: fLostEntries, fLostEntries: fSeq, fCount: fSeq, fSeq: fTS,
		fPattern: fSearchMode, fSearchMode: fWindow, fWindow: fSeq,
	}
)

func init() {
	for _, k := range knownKeys {
		f, kind, _ := keyOf([]byte(k))
		keyLits[f], keyKinds[f] = `"`+k+`":`, kind
	}
}

// setString sets the string field f (fHost to fLostCause).
func (l *Line) setString(f field, s string) {
	switch f {
	case fHost:
		l.Host = s
	case fCertHost:
		l.CertHost = s
	case fAdmin:
		l.Admin = s
	case fMethod:
		l.Method = s
	case fEndpoint:
		l.Endpoint = s
	case fCommit:
		l.Commit = s
	case fInstance:
		l.Instance = s
	case fReason:
		l.Reason = s
	case fState:
		l.State = s
	case fGate:
		l.Gate = s
	case fCertExpires:
		l.CertExpires = s
	case fQuota:
		l.Quota = s
	case fLostCause:
		l.LostCause = s
	case fRemote:
		l.Remote = s
	case fStream:
		l.Stream = s
	case fPattern:
		l.Pattern = s
	case fSearchMode:
		l.SearchMode = s
	case fWindow:
		l.Window = s
	}
}

// fastParse reads a flat JSON object whose strings hold no escapes, as the
// index writer writes them; it gives up (errSlow) on anything else.
func fastParse(b []byte, l *Line, seen *strs) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errSlow
	}
	i++
	sawTS, afterComma := false, false
	next := fTS // the key the writer puts next
	for {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' && !afterComma {
			if skipSpace(b, i+1) != len(b) || !sawTS {
				return errSlow
			}
			return nil
		}
		var f field
		var kind byte
		if lit := keyLits[next]; lit != "" && len(b)-i > len(lit) && string(b[i:i+len(lit)]) == lit {
			// The key the writer puts here, as it writes it: no need to
			// scan it and look it up.
			f, kind, i = next, keyKinds[next], i+len(lit)
		} else {
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
			var err error
			if f, kind, err = keyOf(key); err != nil {
				return err
			}
		}
		next = keyNext[f]
		var end int
		switch c := b[i]; {
		case c == 'n' && bytes.HasPrefix(b[i:], []byte("null")):
			end = i + 4 // encoding/json leaves the field as it is
		case kind != 0 && !fits(kind, c):
			return errSlow // a known key with a value of the wrong type
		case c == '"' && f > fTS && f <= fLostCause:
			if s, ok := seen.repeat(f, b, i); ok {
				// The line before's value, already checked plain:
				// no need to scan it.
				end = i + len(s) + 2
				l.setString(f, s)
				break
			}
			s, j, ok := plainString(b, i)
			if !ok {
				return errSlow
			}
			end = j
			l.setString(f, seen.get(f, s))
		case c == '"':
			s, j, ok := plainString(b, i)
			if !ok {
				return errSlow
			}
			end = j
			switch {
			case f == fTS:
				t, err := parseTS(s)
				if err != nil {
					return errSlow
				}
				l.TS, sawTS = t, true
			case f >= fPattern && f <= fLast:
				l.setString(f, string(s))
			}
		case c == 't' && bytes.HasPrefix(b[i:], []byte("true")):
			end = i + 4
			if f == fAuth {
				l.Auth = true
			}
		case c == 'f' && bytes.HasPrefix(b[i:], []byte("false")):
			end = i + 5
			if f == fAuth {
				l.Auth = false // a repeated key: the last one counts, as in encoding/json
			}
		case c == '-' || (c >= '0' && c <= '9'):
			end = i
			for end < len(b) && (b[end] == '-' || b[end] == '+' || b[end] == '.' || b[end] == 'e' || b[end] == 'E' || (b[end] >= '0' && b[end] <= '9')) {
				end++
			}
			if l.setNumber(f, b[i:end]) {
				break
			}
			num := string(b[i:end])
			if !jsonNumber(num) {
				return errSlow
			}
			switch f {
			case fStatus:
				n, err := strconv.Atoi(num)
				if err != nil {
					return errSlow
				}
				l.Status = n
			case fCount:
				n, err := strconv.Atoi(num)
				if err != nil {
					return errSlow
				}
				l.Count = n
			case fSeq:
				n, err := strconv.ParseUint(num, 10, 64)
				if err != nil {
					return errSlow
				}
				l.Seq = n
			case fBytes, fQuotaUsed, fQuotaLimit, fLost, fLostEntries:
				n, err := strconv.ParseInt(num, 10, 64)
				if err != nil {
					return errSlow
				}
				switch f {
				case fBytes:
					l.Bytes = n
				case fQuotaUsed:
					l.QuotaUsed = n
				case fQuotaLimit:
					l.QuotaLimit = n
				case fLost:
					l.Lost = n
				default:
					l.LostEntries = n
				}
			case fDurMS:
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

// parseTS reads a ts as time.Parse(time.RFC3339Nano) does, in UTC. The
// writer's own form (TimeFormat) is read digit by digit; a stamp in it
// that time.Date does not give back as written (a 31 November, a 25th
// hour), and any other form, is left to time.Parse to judge.
func parseTS(s []byte) (time.Time, error) {
	if len(s) == len(TimeFormat) && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == '.' && s[23] == 'Z' {
		num := func(i, n int) int {
			v := 0
			for _, c := range s[i : i+n] {
				if c < '0' || c > '9' {
					return -1
				}
				v = v*10 + int(c-'0')
			}
			return v
		}
		y, mo, d, h, mi, sec, ms := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 3)
		if y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60 && ms >= 0 {
			t := time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.UTC)
			if t.Day() == d && t.Month() == time.Month(mo) {
				return t, nil
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	return t.UTC(), err
}

// strs hands out one string per distinct value read. An index repeats a
// few values (hosts, commits, endpoints, addresses) on many lines, and a
// fresh string per field per line was most of a full read's garbage. It
// is bounded, so a read of any length keeps little. Most fields repeat
// the line before's value (a fleet runs a release or two, on a few
// endpoints): last, by field, answers those without hashing.
type strs struct {
	m    map[string]string
	last [fLostCause + 1]string
}

// repeat reports whether the JSON string at b[i] == '"' is the value last
// handed out for f, as it was written: that value was read as a plain
// string, so the same bytes are one too.
func (m *strs) repeat(f field, b []byte, i int) (string, bool) {
	s := m.last[f]
	end := i + 1 + len(s)
	return s, end < len(b) && b[end] == '"' && string(b[i+1:end]) == s
}

// maxStrs bounds a strs: well above a fleet's hosts and addresses.
const maxStrs = 1 << 14

func (m *strs) get(f field, b []byte) string {
	if s := m.last[f]; s == string(b) { // no allocation for the comparison
		return s
	}
	s, ok := m.m[string(b)] // nor for the lookup
	if !ok {
		s = string(b)
		if m.m == nil {
			m.m = map[string]string{}
		}
		if len(m.m) < maxStrs {
			m.m[s] = s
		}
	}
	m.last[f] = s
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

// pow10 are the powers of ten a float64 holds exactly, as far as
// shortNumber's fractions need.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// shortNumber reads a number as the writer writes them: an optional
// minus, an integer part without leading zeros, an optional fraction, no
// exponent, 15 digits at most; its value is mant / 10^frac. Anything
// else is not ok, for strconv to judge.
func shortNumber(t []byte) (mant int64, frac int, ok bool) {
	i, neg := 0, len(t) > 0 && t[0] == '-'
	if neg {
		i++
	}
	start, digits, dot := i, 0, -1
	for ; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			mant = mant*10 + int64(c-'0')
			digits++
		case c == '.' && dot < 0 && digits > 0:
			dot = i
		default:
			return 0, 0, false
		}
	}
	intEnd := len(t)
	if dot >= 0 {
		intEnd, frac = dot, len(t)-dot-1
	}
	if digits == 0 || digits > 15 || (dot >= 0 && frac == 0) || (t[start] == '0' && intEnd-start > 1) {
		return 0, 0, false
	}
	if neg {
		mant = -mant
	}
	return mant, frac, true
}

// setNumber sets a numeric field from a short number (shortNumber)
// without strconv, as strconv would. It returns false for anything else,
// or a value strconv would refuse or round otherwise: the caller then
// takes the long way.
func (l *Line) setNumber(f field, t []byte) bool {
	mant, frac, ok := shortNumber(t)
	if !ok {
		return false
	}
	if f == fDurMS {
		if mant == 0 && t[0] == '-' {
			return false // -0: strconv keeps the sign
		}
		// Both exact in a float64 (< 2^53, <= 10^15), so the quotient
		// is the nearest float64 to the decimal, as strconv gives.
		l.DurMS = float64(mant) / pow10[frac]
		return true
	}
	if frac > 0 {
		return f == fUnknown // a fraction for an integer: strconv refuses it
	}
	switch f {
	case fStatus, fCount:
		if int64(int(mant)) != mant {
			return false // out of an int's range here
		}
		if f == fStatus {
			l.Status = int(mant)
		} else {
			l.Count = int(mant)
		}
	case fSeq:
		if t[0] == '-' {
			return false // even -0: strconv refuses a sign for a uint
		}
		l.Seq = uint64(mant)
	case fBytes:
		l.Bytes = mant
	case fQuotaUsed:
		l.QuotaUsed = mant
	case fQuotaLimit:
		l.QuotaLimit = mant
	case fLost:
		l.Lost = mant
	case fLostEntries:
		l.LostEntries = mant
	}
	return true
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

// Parser reads index lines one at a time, sharing the strings they repeat:
// an index kept elsewhere than in day files reads its lines through it.
type Parser struct{ seen strs }

// Parse reads one line, without its newline, into l.
func (p *Parser) Parse(b []byte, l *Line) error { return parseLine(b, l, &p.seen) }

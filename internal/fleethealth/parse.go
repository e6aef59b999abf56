package fleethealth

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/names"
)

// Rec is what the detector needs of one index line.
type Rec struct {
	TS       time.Time
	Host     string // canonical, from the path; empty if none
	Auth     bool
	CertHost string // the host a fleet-CA-signed certificate named
	Admin    string
	Method   string
	Endpoint string
	Status   int
	Commit   string
	Instance string
	Reason   string
	State    string // heartbeat: up, shutdown, sleep
	Gate     string // unstamped, unknown-commit, stale
	Seq      uint64
	// CertExpires is the RFC 3339 expiry of the fleet-signed certificate.
	CertExpires string
}

// Subject is the host a request counts for: the host its certificate,
// signed by the fleet CA, named, or else the host it authenticated as.
// Nothing else: a host name merely typed into a URL never makes a host
// look sick. Admin requests count for no host.
func (r *Rec) Subject() string {
	if r.Admin != "" {
		return ""
	}
	if r.CertHost != "" {
		h, err := names.Host(r.CertHost)
		if err != nil {
			return ""
		}
		return h
	}
	if r.Auth && r.Host != "" {
		h, err := names.Host(r.Host)
		if err != nil {
			return ""
		}
		return h
	}
	return ""
}

var errMalformed = errors.New("not an index line")

// parseLine reads one index line (without its newline). The index writer's
// own lines take a fast path; anything else valid is read by encoding/json.
func parseLine(b []byte, r *Rec) error {
	*r = Rec{}
	if err := fastParse(b, r); err == nil {
		return nil
	}
	*r = Rec{}
	var l index.Line
	if err := json.Unmarshal(b, &l); err != nil || l.TS.IsZero() {
		return errMalformed
	}
	*r = Rec{TS: l.TS, Host: l.Host, Auth: l.Auth, CertHost: l.CertHost, Admin: l.Admin, Method: l.Method,
		Endpoint: l.Endpoint, Status: l.Status, Commit: l.Commit, Instance: l.Instance, Reason: l.Reason,
		State: l.State, Gate: l.Gate, Seq: l.Seq, CertExpires: l.CertExpires}
	return nil
}

var errSlow = errors.New("take the slow path")

// knownKeys are index.Line's keys; kindOf gives the JSON type of each, as
// the fast path must refuse what encoding/json would refuse. kindOf's
// switch repeats them because it runs for every key of every line;
// TestKnownKeysMatchTheIndex keeps both in step with index.Line.
var knownKeys = []string{"ts", "host", "cert_host", "admin", "method", "endpoint", "commit", "instance",
	"reason", "state", "gate", "remote", "stream", "cert_expires", "auth", "status", "bytes", "seq", "dur_ms"}

// kindOf returns the type a key must have, 0 for a key index.Line does not
// know, or errSlow for a key encoding/json would match by case folding.
func kindOf(key []byte) (byte, error) {
	switch string(key) {
	case "ts", "host", "cert_host", "admin", "method", "endpoint", "commit", "instance",
		"reason", "state", "gate", "remote", "stream", "cert_expires":
		return 's', nil
	case "auth":
		return 'b', nil
	case "status", "bytes":
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
func fastParse(b []byte, r *Rec) error {
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
				r.TS, sawTS = t.UTC(), true
			case "host":
				r.Host = string(s)
			case "cert_host":
				r.CertHost = string(s)
			case "admin":
				r.Admin = string(s)
			case "method":
				r.Method = string(s)
			case "endpoint":
				r.Endpoint = string(s)
			case "commit":
				r.Commit = string(s)
			case "instance":
				r.Instance = string(s)
			case "reason":
				r.Reason = string(s)
			case "state":
				r.State = string(s)
			case "gate":
				r.Gate = string(s)
			case "cert_expires":
				r.CertExpires = string(s)
			}
		case c == 't' && bytes.HasPrefix(b[i:], []byte("true")):
			end = i + 4
			if string(key) == "auth" {
				r.Auth = true
			}
		case c == 'f' && bytes.HasPrefix(b[i:], []byte("false")):
			end = i + 5
			if string(key) == "auth" {
				r.Auth = false // a repeated key: the last one counts, as in encoding/json
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
				r.Status = n
			case "seq":
				n, err := strconv.ParseUint(num, 10, 64)
				if err != nil {
					return errSlow
				}
				r.Seq = n
			case "bytes":
				if _, err := strconv.ParseInt(num, 10, 64); err != nil {
					return errSlow
				}
			default:
				if _, err := strconv.ParseFloat(num, 64); err != nil && kind != 0 {
					return errSlow
				}
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

// Package names validates the host and stream names that arrive from the
// network, so that nothing unchecked ever reaches a file path, a log line or
// another host's data.
package names

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxHost is the longest valid host name (a DNS name).
const MaxHost = 253

// MaxStream is the longest valid stream name.
const MaxStream = 128

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid name")

// Host returns the canonical (lowercase) form of a host name, or an error
// saying what is wrong. Folding is ASCII only: any byte outside ASCII makes
// the name invalid, so no Unicode case mapping can turn a foreign character
// into a valid name.
func Host(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: host name is empty", ErrInvalid)
	}
	if len(s) > MaxHost {
		return "", fmt.Errorf("%w: host name is %d bytes long, at most %d are allowed", ErrInvalid, len(s), MaxHost)
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
		case c >= 0x80:
			return "", fmt.Errorf("%w: host name has a non-ASCII byte 0x%02x", ErrInvalid, c)
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("%w: host name has a control byte 0x%02x", ErrInvalid, c)
		default:
			return "", fmt.Errorf("%w: host name has %q, only letters, digits, '-' and '.' are allowed", ErrInvalid, rune(c))
		}
	}
	for _, label := range bytes.Split(b, []byte{'.'}) {
		switch {
		case len(label) == 0:
			return "", fmt.Errorf("%w: host name has an empty label (a leading, trailing or double dot)", ErrInvalid)
		case len(label) > 63:
			return "", fmt.Errorf("%w: host name label is %d characters long, at most 63 are allowed", ErrInvalid, len(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", fmt.Errorf("%w: host name label %q starts or ends with '-'", ErrInvalid, label)
		}
	}
	return string(b), nil
}

// Stream checks a stream name: [A-Za-z0-9][A-Za-z0-9._-]{0,127}. Stream
// names are case-sensitive and never folded.
func Stream(s string) error {
	if s == "" {
		return fmt.Errorf("%w: stream name is empty", ErrInvalid)
	}
	if len(s) > MaxStream {
		return fmt.Errorf("%w: stream name is %d bytes long, at most %d are allowed", ErrInvalid, len(s), MaxStream)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("%w: stream name must match [A-Za-z0-9][A-Za-z0-9._-]*, found byte 0x%02x at %d", ErrInvalid, c, i)
		}
	}
	return nil
}

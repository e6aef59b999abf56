package config

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// Size is a number of bytes. In config files it is written as a whole number
// of bytes (8388608) or as a string with a unit ("8MiB", "1.5GiB").
type Size int64

// Size units. KB, MB, GB and TB are powers of 1000; KiB, MiB, GiB and TiB
// are powers of 1024.
const (
	B   Size = 1
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
	TB  Size = 1000 * GB
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// sizeUnits maps a lowercased unit to its value; "" means bytes.
var sizeUnits = map[string]Size{
	"": B, "b": B,
	"kb": KB, "mb": MB, "gb": GB, "tb": TB,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
}

// sizeFormat lists the units String tries.
var sizeFormat = []struct {
	name string
	v    Size
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)$`)

const sizeHint = `write a whole number of bytes or a number with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), like "8MiB" or "1.5GiB"`

// ParseSize parses a size: a non-negative number, optionally with a fraction,
// followed by an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; case
// does not matter; a space may separate number and unit). Without a unit the
// number is bytes. A fraction of a byte is rounded down.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q is negative; %s", s, sizeHint)
	}
	m := sizeRE.FindStringSubmatch(t)
	if m == nil || len(t) > 64 {
		return 0, fmt.Errorf("%q is not a size; %s", s, sizeHint)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q; %s", s, m[2], sizeHint)
	}
	num := m[1]
	if strings.HasSuffix(num, ".") {
		num += "0"
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%q is not a size; %s", s, sizeHint)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(unit)))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("%q is too large; write at most 8EiB-1 bytes, e.g. \"1TiB\"", s)
	}
	return Size(n.Int64()), nil
}

// String formats the size exactly, in the unit that divides it with the
// smallest quotient, or in bytes: "8MiB", "1536MiB", "2TB", "1500B".
// ParseSize reads it back to the same value.
func (s Size) String() string {
	best, unit := int64(s), "B"
	if s > 0 {
		for _, u := range sizeFormat {
			if s%u.v == 0 && int64(s/u.v) < best {
				best, unit = int64(s/u.v), u.name
			}
		}
	}
	return fmt.Sprintf("%d%s", best, unit)
}

// Int64 returns the size in bytes.
func (s Size) Int64() int64 { return int64(s) }

// MarshalText formats the size as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a size as ParseSize does.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalTOML accepts a TOML string (as UnmarshalText) or a non-negative
// integer (bytes); other TOML types get an error that says what to write.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return s.UnmarshalText([]byte(v))
	case int64:
		if v < 0 {
			return fmt.Errorf("%d is negative; %s", v, sizeHint)
		}
		*s = Size(v)
		return nil
	case float64:
		return fmt.Errorf("%v is a bare number with a fraction; put it in quotes with a unit, like \"1.5GiB\"", v)
	default:
		return fmt.Errorf("%s is not a size; %s", describe(v), sizeHint)
	}
}

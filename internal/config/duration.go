package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in config files as a string: a Go
// duration ("90s", "5m", "1h30m", "720h") or a number of days ("30d",
// "1.5d", "1d12h"). Negative durations are rejected.
type Duration time.Duration

// Day is 24 hours, the unit of the "d" suffix.
const Day = 24 * time.Hour

// textHint says what to write for a duration given as text (a TOML string,
// a command-line flag), which needs no quotes.
const textHint = `write a number with a unit (ms, s, m, h or d), like 90s, 5m, 720h or 30d`

// durationHint is textHint for a TOML value that is not a string: there
// the quotes are missing too.
const durationHint = `write a number with a unit (ms, s, m, h or d) in quotes, like "90s", "5m", "720h" or "30d"`

var daysRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)d(.*)$`)

// ParseDuration parses a duration: anything time.ParseDuration accepts
// except negative values, optionally preceded by a number of days with the
// suffix "d" ("30d", "1d12h").
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q is negative; %s", s, textHint)
	}
	if t == "" || strings.HasPrefix(t, "+") {
		return 0, fmt.Errorf("%q is not a duration; %s", s, textHint)
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && f != 0 {
		// The likeliest slip (--duration 5): name it, as UnmarshalTOML does.
		return 0, fmt.Errorf("%q is a bare number without a unit; %s", s, textHint)
	}
	var days time.Duration
	if m := daysRE.FindStringSubmatch(t); m != nil {
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration; %s", s, textHint)
		}
		if f*float64(Day) >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is too long; write at most 106751d", s)
		}
		days = time.Duration(math.Round(f * float64(Day)))
		t = m[2]
		if t == "" {
			return Duration(days), nil
		}
		if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
			return 0, fmt.Errorf("%q is not a duration; %s", s, textHint)
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; %s", s, textHint)
	}
	if d > math.MaxInt64-days {
		return 0, fmt.Errorf("%q is too long; write at most 106751d", s)
	}
	return Duration(days + d), nil
}

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats whole days as "30d" and anything else like
// time.Duration.String without trailing zero units ("90s", "5m", "1h30m").
// ParseDuration reads it back to the same value.
func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%Day == 0 {
		return fmt.Sprintf("%dd", td/Day)
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText formats the duration as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration as ParseDuration does.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalTOML accepts a TOML string (as UnmarshalText) or the integer 0;
// other TOML types, other bare numbers included, get an error that says
// what to write.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return d.UnmarshalText([]byte(v))
	case int64:
		if v == 0 {
			*d = 0
			return nil
		}
		return fmt.Errorf("%v is a bare number without a unit; %s", v, durationHint)
	case float64:
		return fmt.Errorf("%v is a bare number without a unit; %s", v, durationHint)
	default:
		return fmt.Errorf("%s is not a duration; %s", describe(v), durationHint)
	}
}

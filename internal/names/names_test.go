package names

import (
	"errors"
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"elliott-thinkpad", "elliott-thinkpad", true},
		{"elliott-ThinkPad", "elliott-thinkpad", true},
		{"LAB-101.cs.example", "lab-101.cs.example", true},
		{"a", "a", true},
		{"0", "0", true},
		{long63, long63, true},
		{long63 + "a", "", false},
		{strings.Repeat(long63+".", 3) + strings.Repeat("a", 61), strings.Repeat(long63+".", 3) + strings.Repeat("a", 61), true},
		{strings.Repeat(long63+".", 3) + strings.Repeat("a", 62), "", false},
		{"", "", false},
		{"..", "", false},
		{".", "", false},
		{"a..b", "", false},
		{".a", "", false},
		{"a.", "", false},
		{"-a", "", false},
		{"a-", "", false},
		{"a-.b", "", false},
		{"a.-b", "", false},
		{"a/b", "", false},
		{"a_b", "", false},
		{"a b", "", false},
		{"a\x00b", "", false},
		{"a\nb", "", false},
		{"%2e%2e", "", false},
		{"\u212a", "", false}, // Kelvin sign: ToLower would make it "k"
		{"straße", "", false},
		{"ＡＢ", "", false},
	}
	for _, tt := range tests {
		got, err := Host(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("Host(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Host(%q) err = %v, want ErrInvalid", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("Host(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"syslog", true},
		{"Auth.log", true},
		{"a", true},
		{"x.log-2_b", true},
		{"a..b", true},
		{strings.Repeat("s", 128), true},
		{strings.Repeat("s", 129), false},
		{"", false},
		{"..", false},
		{".hidden", false},
		{"-x", false},
		{"_x", false},
		{"a/b", false},
		{"a\\b", false},
		{"a%2fb", false},
		{"a\x00", false},
		{"a\tb", false},
		{"ü", false},
	}
	for _, tt := range tests {
		err := Stream(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("Stream(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func FuzzHost(f *testing.F) {
	for _, s := range []string{"lab-1", "A.b", "..", "%2e", "\u212a", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Host(s)
		if err != nil {
			return
		}
		// A valid name is canonical, ASCII, and stable.
		again, err := Host(got)
		if err != nil || again != got {
			t.Fatalf("Host(%q) = %q, not stable: %q, %v", s, got, again, err)
		}
		if !strings.EqualFold(got, s) || strings.ToLower(got) != got {
			t.Fatalf("Host(%q) = %q is not the lowercase fold", s, got)
		}
		if strings.Contains(got, "..") || strings.ContainsAny(got, "/\\\x00") {
			t.Fatalf("Host(%q) = %q is not path-safe", s, got)
		}
	})
}

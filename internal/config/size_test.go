package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"8388608", 8 * MiB},
		{"512B", 512},
		{"512 B", 512},
		{"1KB", 1000},
		{"2MB", 2000000},
		{"3GB", 3000000000},
		{"1TB", 1000000000000},
		{"1KiB", 1024},
		{"8MiB", 8 << 20},
		{"8mib", 8 << 20},
		{"1.5GiB", 3 << 29},
		{" 2GiB ", 2 << 30},
		{"1TiB", 1 << 40},
		{"0.5KiB", 512},
		{".5KiB", 512},
		{"1.KiB", 1024},
		{"1.1B", 1}, // fractions of a byte round down
		{"1.1KiB", 1126},
		{"9223372036854775807", 1<<63 - 1},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "is not a size"},
		{"MiB", "is not a size"},
		{"-1", "is negative"},
		{"-1MiB", "is negative"},
		{"8 mebibytes", `unknown unit "mebibytes"`},
		{"8M", `unknown unit "M"`},
		{"1PiB", `unknown unit "PiB"`},
		{"1e3", "is not a size"},
		{"1/2", "is not a size"},
		{"1.2.3MiB", "is not a size"},
		{"0x10", "is not a size"},
		{"8388608TiB", "too large"},
		{"99999999999999999999", "too large"},
	}
	for _, tt := range tests {
		_, err := ParseSize(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSize(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1500B"},
		{8 * MiB, "8MiB"},
		{3 << 29, "1536MiB"},
		{GiB, "1GiB"},
		{20 * GiB, "20GiB"},
		{TiB, "1TiB"},
		{2 * TB, "2TB"},
		{5 * MB, "5MB"},
		{1024000, "1000KiB"},
		{1<<63 - 1, "9223372036854775807B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d back", tt.in.String(), back, err, int64(tt.in))
		}
	}
}

func TestSizeText(t *testing.T) {
	var s Size
	if err := s.UnmarshalText([]byte("64MiB")); err != nil || s != 64*MiB {
		t.Fatalf("UnmarshalText = %d, %v", s, err)
	}
	b, err := s.MarshalText()
	if err != nil || string(b) != "64MiB" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	if err := s.UnmarshalText([]byte("lots")); err == nil {
		t.Fatal("UnmarshalText(lots) succeeded")
	}
	if s != 64*MiB {
		t.Fatalf("failed UnmarshalText changed the value to %d", s)
	}
}

func TestSizeTOML(t *testing.T) {
	tests := []struct {
		in      any
		want    Size
		wantErr string
	}{
		{"1GiB", GiB, ""},
		{int64(4096), 4096, ""},
		{int64(-1), 0, "is negative"},
		{1.5, 0, `put it in quotes with a unit, like "1.5GiB"`},
		{true, 0, "true is not a size"},
		{[]any{}, 0, "an array is not a size"},
	}
	for _, tt := range tests {
		var s Size
		err := s.UnmarshalTOML(tt.in)
		if tt.wantErr == "" {
			if err != nil || s != tt.want {
				t.Errorf("UnmarshalTOML(%#v) = %d, %v; want %d", tt.in, s, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("UnmarshalTOML(%#v) error = %v; want it to contain %q", tt.in, err, tt.wantErr)
		}
	}
}

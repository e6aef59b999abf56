package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"90s", 90 * time.Second},
		{"5m", 5 * time.Minute},
		{"720h", 720 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"250ms", 250 * time.Millisecond},
		{"30d", 30 * Day},
		{"1.5d", 36 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1d1h30m", 25*time.Hour + 30*time.Minute},
		{" 400d ", 400 * Day},
		{"0d", 0},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got.Duration() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got.Duration(), err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "is not a duration"},
		{"90", `"90" is a bare number without a unit; write a number with a unit (ms, s, m, h or d), like 90s`},
		{"1.5", "is a bare number without a unit"},
		{"5 minutes", "is not a duration"},
		{"-5s", "is negative"},
		{"-1d", "is negative"},
		{"+5s", "is not a duration"},
		{"1d-5h", "is not a duration"},
		{"d", "is not a duration"},
		{"1w", "is not a duration"},
		{"1dd", "is not a duration"},
		{"200000d", "too long"},
		{"106751d24h", "too long"},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDuration(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{90 * time.Second, "1m30s"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{36 * time.Hour, "36h"},
		{Day, "1d"},
		{90 * Day, "90d"},
		{250 * time.Millisecond, "250ms"},
		{time.Hour + time.Second, "1h0m1s"},
	}
	for _, tt := range tests {
		d := Duration(tt.in)
		if got := d.String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q; want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v back", d.String(), back, err, tt.in)
		}
	}
}

func TestDurationTOML(t *testing.T) {
	tests := []struct {
		in      any
		want    Duration
		wantErr string
	}{
		{"30d", Duration(30 * Day), ""},
		{int64(0), 0, ""},
		{int64(30), 0, "bare number without a unit"},
		{1.5, 0, "bare number without a unit"},
		{false, 0, "false is not a duration"},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalTOML(tt.in)
		if tt.wantErr == "" {
			if err != nil || d != tt.want {
				t.Errorf("UnmarshalTOML(%#v) = %v, %v; want %v", tt.in, d, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("UnmarshalTOML(%#v) error = %v; want it to contain %q", tt.in, err, tt.wantErr)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("5m")); err != nil || d.Duration() != 5*time.Minute {
		t.Fatalf("UnmarshalText = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "5m" {
		t.Fatalf("MarshalText = %q", b)
	}
}

package human

import (
	"testing"
	"time"
)

func TestBytesAndAgo(t *testing.T) {
	for n, want := range map[int64]string{12: "12 bytes", 1536: "1.5 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q; want %q", n, got, want)
		}
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{-time.Second: "just now", 5 * time.Second: "5s ago", 90 * time.Minute: "1h ago", 72 * time.Hour: "3d ago"} {
		if got := Ago(now, now.Add(-d)); got != want {
			t.Errorf("Ago(%s) = %q; want %q", d, got, want)
		}
	}
	if Ago(now, time.Time{}) != "never" {
		t.Error("the zero time is not never")
	}
}

func TestDurationAndCommit(t *testing.T) {
	for d, want := range map[time.Duration]string{40 * time.Second: "40s", 5 * time.Minute: "5m", 30 * time.Hour: "30h", 50 * time.Hour: "2d"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q; want %q", d, got, want)
		}
	}
	for c, want := range map[string]string{"": "unstamped", "abc": "abc", "0123456789abcdef": "0123456789ab"} {
		if got := Commit(c); got != want {
			t.Errorf("Commit(%q) = %q; want %q", c, got, want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 warnings", 1: "1 warning", 2: "2 warnings"} {
		if got := Count(n, "warning"); got != want {
			t.Errorf("Count(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestA(t *testing.T) {
	for word, want := range map[string]string{"admin": "an admin", "host": "a host", "unknown": "an unknown", "receiver": "a receiver"} {
		if got := A(word); got != want {
			t.Errorf("A(%q) = %q; want %q", word, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: never half of it
		{"日本", 4, "日"},
		{"日本", 2, ""},
	} {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q; want %q", c.in, c.n, got, c.want)
		}
	}
}

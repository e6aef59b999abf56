package fleethealth

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAlertsSince: a reader that comes back with its checkpoint sees each
// alert once, whole: an unfinished line waits, a line a crash cut short
// does not hide the alert appended after it, a garbage line is skipped,
// and a file replaced by a shorter one is read from its start.
func TestAlertsSince(t *testing.T) {
	data := t.TempDir()
	store := Files(data, "")
	path := filepath.Join(data, "alerts.jsonl")
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	line := func(m int, host string) string {
		b, err := Alert{TS: t0.Add(time.Duration(m) * time.Minute), Host: host, Symptom: Silent, Bucket: "b"}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	write := func(s string, flag int) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	var cp AlertCheckpoint
	read := func() []string {
		t.Helper()
		var hosts []string
		var err error
		cp, err = store.AlertsSince(context.Background(), cp, t0.Add(time.Minute), func(a Alert) error {
			hosts = append(hosts, a.Host)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return hosts
	}
	late := line(5, "torn")
	steps := []struct {
		name   string
		append string
		flag   int // os.O_APPEND, or os.O_TRUNC to replace the file
		want   []string
	}{
		{"no file yet", "", os.O_APPEND, nil},
		{"before since, and after", line(0, "early") + line(1, "a") + line(2, "b"), os.O_APPEND, []string{"a", "b"}},
		{"unfinished line waits", late[:15], os.O_APPEND, nil},
		{"cut short, then the next run's", line(6, "c"), os.O_APPEND, []string{"c"}},
		{"garbage and a huge line", "not json\n" + strings.Repeat("x", maxAlertLine+10) + "\n" + line(7, "d"), os.O_APPEND, []string{"d"}},
		{"replaced by a shorter file", line(8, "e"), os.O_TRUNC, []string{"e"}},
	}
	for _, s := range steps {
		if s.append != "" {
			write(s.append, s.flag)
		}
		if got := read(); !slices.Equal(got, s.want) {
			t.Errorf("%s: read %v, want %v (checkpoint %+v)", s.name, got, s.want, cp)
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
)

// day0 is 23:00 on the first day of indexData; its index crosses midnight.
var day0 = time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)

// at is day0 plus m minutes.
func at(m int) time.Time { return day0.Add(time.Duration(m) * time.Minute) }

// indexLine is one index line, with its newline.
func indexLine(t *testing.T, ts time.Time, host string, seq uint64) []byte {
	t.Helper()
	b, err := index.Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "logs",
		Status: 201, Seq: seq}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// alertLine is one line of alerts.jsonl, with its newline.
func alertLine(t *testing.T, ts time.Time, host string) []byte {
	t.Helper()
	b, err := fleethealth.Alert{TS: ts, Host: host, Symptom: "silent", Detail: "quiet", Bucket: fleethealth.Bucket(ts)}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// indexData writes a receiver config and a data_dir whose index holds a
// request every 20 minutes from 23:00 to 01:00 (so two day files) and
// whose alerts fall at 23:30, at 00:20 (with a request) and at 00:50.
func indexData(t *testing.T) (cfg, data string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "index"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "receiver.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \"data\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for i := range 7 {
		ts := at(20 * i)
		name := index.FileName(ts)
		files[name] = append(files[name], indexLine(t, ts, "lab-1", uint64(i+1))...)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(data, "index", name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var alerts []byte
	for _, m := range []int{30, 80, 110} {
		alerts = append(alerts, alertLine(t, at(m), "lab-2")...)
	}
	if err := os.WriteFile(filepath.Join(data, "alerts.jsonl"), alerts, 0o640); err != nil {
		t.Fatal(err)
	}
	return cfg, data
}

// printed is what `index` printed: kind and minutes past day0, per line.
func printed(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for line := range strings.Lines(out) {
		var v struct {
			Kind string    `json:"kind"`
			TS   time.Time `json:"ts"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("printed a line that is not JSON: %q: %v", line, err)
		}
		if !strings.HasPrefix(line, `{"kind":"`) {
			t.Errorf("kind is not the first key: %q", line)
		}
		got = append(got, v.Kind[:1]+v.TS.Sub(day0).String())
	}
	return got
}

// TestIndexPrintsRequestsAndAlertsInTimeOrder: both day files, bounded by
// --since and --until, with each alert before the first request stamped
// after it (after one stamped the same instant: the detector judged it).
func TestIndexPrintsRequestsAndAlertsInTimeOrder(t *testing.T) {
	cfg, _ := indexData(t)
	tests := []struct {
		name         string
		since, until string
		want         []string // r or a, then the time past 23:00
	}{
		{"everything", "2026-11-26T00:00:00Z", "",
			[]string{"r0s", "r20m0s", "a30m0s", "r40m0s", "r1h0m0s", "r1h20m0s", "a1h20m0s", "r1h40m0s", "a1h50m0s", "r2h0m0s"}},
		{"from the second day", "2026-11-27T00:00:00Z", "",
			[]string{"r1h0m0s", "r1h20m0s", "a1h20m0s", "r1h40m0s", "a1h50m0s", "r2h0m0s"}},
		{"across midnight", "2026-11-26T23:30:00Z", "2026-11-27T00:30:00Z",
			[]string{"a30m0s", "r40m0s", "r1h0m0s", "r1h20m0s", "a1h20m0s"}},
		{"until in the first day", "2026-11-26T23:00:00Z", "2026-11-26T23:35:00Z",
			[]string{"r0s", "r20m0s", "a30m0s"}},
		{"since after everything", "2026-11-28T00:00:00Z", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"index", "--config", cfg, "--since", tt.since}
			if tt.until != "" {
				args = append(args, "--until", tt.until)
			}
			code, out, errs := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if got := printed(t, out); !slices.Equal(got, tt.want) {
				t.Errorf("printed %v\nwant    %v", got, tt.want)
			}
		})
	}
}

// TestIndexSkipsTornLines: a line a crash cut short — at the end of an
// older day file, of the newest one (still being written, perhaps) or of
// alerts.jsonl — is neither printed nor the end of the output.
func TestIndexSkipsTornLines(t *testing.T) {
	cfg, data := indexData(t)
	appendTo(t, filepath.Join(data, "index", "2026-11-26.jsonl"), `{"ts":"2026-11-26T23:5`)
	appendTo(t, filepath.Join(data, "index", "2026-11-27.jsonl"), `{"ts":"2026-11-27T01:1`)
	appendTo(t, filepath.Join(data, "alerts.jsonl"), `{"ts":"2026-11-27T01:0`)
	code, out, errs := run(t, "index", "--config", cfg, "--since", "2026-11-26T00:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{"r0s", "r20m0s", "a30m0s", "r40m0s", "r1h0m0s", "r1h20m0s", "a1h20m0s", "r1h40m0s", "a1h50m0s", "r2h0m0s"}
	if got := printed(t, out); !slices.Equal(got, want) {
		t.Errorf("printed %v\nwant    %v", got, want)
	}
	if !strings.Contains(errs, "skipped index lines") || !strings.Contains(errs, "count=1") {
		t.Errorf("the torn line of the older day file went unmentioned: %q", errs)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestIndexIsReadOnly: it takes no lock and writes nothing in data_dir.
func TestIndexIsReadOnly(t *testing.T) {
	cfg, data := indexData(t)
	before := tree(t, data)
	if code, _, errs := run(t, "index", "--config", cfg, "--since", "2026-11-26T00:00:00Z"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if after := tree(t, data); !slices.Equal(before, after) {
		t.Errorf("data_dir changed:\nbefore %v\nafter  %v", before, after)
	}
}

// tree lists every path under dir with its size and modification time.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d %v", p, info.Mode(), info.Size(), info.ModTime()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIndexUsageErrors(t *testing.T) {
	cfg, _ := indexData(t)
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"no --since", nil, "say where to start: --since 2h"},
		{"a word for --since", []string{"--since", "yesterday"}, `--since "yesterday" is neither a duration like 2h nor a time like 2026-11-27T08:00:00Z`},
		{"a negative --since", []string{"--since", "-2h"}, `--since "-2h" is negative`},
		{"a bad --until", []string{"--since", "2h", "--until", "noon"}, `--until "noon" is neither a duration`},
		{"until before since", []string{"--since", "2026-11-27T00:00:00Z", "--until", "2026-11-26T00:00:00Z"},
			"--until 2026-11-26T00:00:00Z is before --since 2026-11-27T00:00:00Z"},
		{"follow with until", []string{"--since", "2h", "--until", "1h", "--follow"}, "give --until or --follow, not both"},
		{"a stray argument", []string{"--since", "2h", "lab-1"}, `unexpected argument "lab-1"`},
		{"an unknown flag", []string{"--since", "2h", "--host", "lab-1"}, "flag provided but not defined: -host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"index", "--config", cfg}, tt.args...)...)
			if code != 2 || out != "" || !strings.Contains(errs, tt.err) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", code, out, errs, tt.err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer the test may read while the command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIndexFollow: a request and an alert appended after the start are
// printed once whole (a half-written line waits); cancelling ends it
// cleanly.
func TestIndexFollow(t *testing.T) {
	cfg, data := indexData(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	env := &Env{Stdout: &out, Stderr: &errs, Log: slog.New(slog.NewTextHandler(&errs, nil))}
	done := make(chan error, 1)
	go func() {
		done <- indexCmd{poll: 10 * time.Millisecond}.run(ctx, env, []string{"--config", cfg, "--since", "2026-11-27T00:30:00Z", "--follow"})
	}()
	waitFor := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := printed(t, out.String())
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("printed %v\nwant    %v\nstderr %s", got, want, errs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor([]string{"r1h40m0s", "a1h50m0s", "r2h0m0s"})

	newest := filepath.Join(data, "index", "2026-11-27.jsonl")
	line := indexLine(t, at(130), "lab-3", 8)
	appendTo(t, newest, string(line[:20])) // half-written: not printed yet
	appendTo(t, filepath.Join(data, "alerts.jsonl"), string(alertLine(t, at(125), "lab-4")))
	waitFor([]string{"r1h40m0s", "a1h50m0s", "r2h0m0s", "a2h5m0s"})
	appendTo(t, newest, string(line[20:]))
	waitFor([]string{"r1h40m0s", "a1h50m0s", "r2h0m0s", "a2h5m0s", "r2h10m0s"})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cancelled follow returned %v; want a clean stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop when cancelled")
	}
}

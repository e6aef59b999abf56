package bench_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/vfs"
)

// `bench startup` at a small size, whole: the builder writes the store, a
// real receiver process starts on it, a builder is SIGKILLed on top of it,
// the receiver starts again, and the store then holds every append either
// builder reported, with an index line for each.
func TestRunStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n, kill, size, hosts, streams = 20_000, 2_000, 100, 4, 2
	var progress bytes.Buffer
	rep, err := bench.RunStartup(t.Context(), bench.StartupOptions{Appends: []int64{0, n}, Size: size, Hosts: hosts, Streams: streams,
		KillAppends: kill, Settle: 100 * time.Millisecond, Dir: t.TempDir(), Keep: true,
		Command: []string{exe}, Env: []string{"CIS490_BENCH_CHILD=1"}, Progress: &progress})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	bench.FormatStartup(&table, rep)
	t.Log(table.String())
	if len(rep.Rows) != 2 || !strings.Contains(table.String(), "| 20k |") {
		t.Fatalf("want rows for 0 and 20k:\n%s", table.String())
	}
	for _, row := range rep.Rows {
		for _, m := range []bench.StartupMeasure{row.Clean, row.Killed} {
			if m.Ready <= 0 || m.PeakRSS < 1<<20 || m.RSS < 1<<20 || m.Heap < 1<<20 {
				t.Errorf("%d appends: start not measured: %+v", row.Appends, m)
			}
		}
	}
	row := rep.Rows[1]
	if row.Build.Appends != n || row.Build.Bytes != n*size || row.Build.Disk < n*size || row.Killed.Appends != n+kill {
		t.Errorf("build %+v, killed start on %d appends", row.Build, row.Killed.Appends)
	}
	data := filepath.Join(row.Dir, "data")
	if got := storedBytes(t, data, hosts, streams); got != (n+kill)*size {
		t.Errorf("the streams hold %d bytes after the SIGKILL, want %d", got, (n+kill)*size)
	}
	if got := indexLines(t, data); got != n+kill {
		t.Errorf("the index holds %d lines after the SIGKILL, want %d", got, n+kill)
	}
}

// storedBytes reopens the store and adds up its streams' lengths.
func storedBytes(t *testing.T, data string, hosts, streams int) int64 {
	t.Helper()
	stg, err := receiverd.OpenStorage(data, store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stg.Close()
	var sum int64
	var names int
	for _, h := range stg.Store.Hosts() {
		infos, err := stg.Store.List(t.Context(), h)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			sum += info.Length - info.Start
			names++
		}
	}
	if names != hosts*streams {
		t.Errorf("%d streams, want %d", names, hosts*streams)
	}
	return sum
}

// indexLines counts the lines of the index's day files.
func indexLines(t *testing.T, data string) int {
	t.Helper()
	dir := datadir.Dir(data).Index()
	files, err := index.Files(vfs.OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines int
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		lines += bytes.Count(b, []byte("\n"))
	}
	return lines
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "20000": 20000, "100k": 100_000, "1M": 1_000_000, " 1.5M": 1_500_000, "2G": 2_000_000_000} {
		if got, err := bench.ParseCount(in); err != nil || got != want {
			t.Errorf("ParseCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5", "1.0001k", "1T"} {
		if got, err := bench.ParseCount(in); err == nil {
			t.Errorf("ParseCount(%q) = %d, want an error", in, got)
		}
	}
}

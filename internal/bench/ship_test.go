package bench_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/cli"
)

// `bench ship` with tiny figures, against real receiver and shipper
// processes (this test binary doubles as cis490): every byte arrives and
// reads back equal to its file, the shipper's usage is measured, and a line
// never reaches the receiver before batch.max_wait has passed.
func TestRunShip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes for several seconds")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const size = 4 << 20
	var progress bytes.Buffer
	rep, err := bench.RunShip(t.Context(), bench.ShipOptions{Size: size, Growing: true, GrowChunk: 4096, Spread: true,
		Sources: 3, Idle: time.Second, DelaySamples: 3, DelayEvery: 300 * time.Millisecond,
		MaxWaits: []time.Duration{100 * time.Millisecond, 50 * time.Millisecond}, Verify: true, Dir: t.TempDir(),
		Command: []string{exe}, Env: []string{"CIS490_BENCH_CHILD=1"}, Progress: &progress})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	bench.FormatShip(&out, rep)
	t.Log(out.String())

	if len(rep.Throughput) != 3 {
		t.Fatalf("%d throughput runs, want backlog, growing and spread", len(rep.Throughput))
	}
	for _, r := range rep.Throughput {
		if r.Bytes != size || r.Elapsed <= 0 {
			t.Errorf("%s: %d bytes in %v", r.Name, r.Bytes, r.Elapsed)
		}
		// 4 MiB in batches of at most 1 MiB, every one a 201.
		if r.PUTs < 4 || r.PUTs > 100 || r.Statuses[201] != r.PUTs {
			t.Errorf("%s: %d PUTs, statuses %v", r.Name, r.PUTs, r.Statuses)
		}
		if r.Shipper.CPU() <= 0 || r.Shipper.MaxRSS < 1<<20 {
			t.Errorf("%s: shipper usage not measured: %+v", r.Name, r.Shipper)
		}
		if r.Lines < size/200 {
			t.Errorf("%s: %d lines in %d bytes", r.Name, r.Lines, size)
		}
	}
	if f := rep.Throughput[2].Files; f != 3 {
		t.Errorf("the spread backlog is in %d files, want 3", f)
	}
	// backlog, growing, spread over 3, and the 3 sources.
	if rep.Verified != 1+1+3+3 {
		t.Errorf("%d streams verified, want 8", rep.Verified)
	}
	if !strings.Contains(out.String(), "verified: all 8 streams at the receiver equal their files") {
		t.Errorf("the report does not say every stream arrived")
	}
	if i := rep.Idle; i == nil {
		t.Error("no idle measurement")
	} else if i.Window < time.Second || i.Threads < 1 || i.RSS <= 0 || i.HWM < i.RSS {
		t.Errorf("idle: %+v", *i)
	}
	// A second delay run (another max_wait) restarts the shipper on the
	// same sources, grown by the first run's lines.
	if len(rep.Delays) != 2 {
		t.Fatalf("%d delay runs, want 2", len(rep.Delays))
	}
	for _, d := range rep.Delays {
		if len(d.Delays) != 3 || d.Lost != 0 || d.PUTs < 1 {
			t.Fatalf("delay with max_wait %v: %d lines measured, %d lost, %d PUTs", d.MaxWait, len(d.Delays), d.Lost, d.PUTs)
		}
		// Each line in its own PUT waited max_wait after it was seen. When
		// a slow PUT (a busy disk) made lines share one, a later line rides
		// along with the earlier one sooner.
		alone := d.PUTs == int64(len(d.Delays))
		for _, x := range d.Delays {
			if (alone && x < d.MaxWait) || x > d.MaxWait+5*time.Second {
				t.Errorf("a line took %v to reach the receiver (%d PUTs for %d lines); the shipper sends max_wait (%v) after the first unsent byte", x, d.PUTs, len(d.Delays), d.MaxWait)
			}
		}
	}
	if rep.PeakRSS < rep.Throughput[0].Shipper.MaxRSS {
		t.Errorf("peak RSS %d below a run's %d", rep.PeakRSS, rep.Throughput[0].Shipper.MaxRSS)
	}
	for _, run := range rep.Throughput {
		// Sampled, the parts' peaks cannot exceed the peak of the whole,
		// and neither is nothing: the heap and the executable's pages.
		u := run.Shipper
		if u.PeakAnon <= 0 || u.PeakFile <= 0 || u.PeakAnon > u.MaxRSS || u.PeakFile > u.MaxRSS {
			t.Errorf("%s: peak anon %d, file %d bytes, peak RSS %d; want both sampled and each within the peak", run.Name, u.PeakAnon, u.PeakFile, u.MaxRSS)
		}
	}
}

// A mistake in `bench ship`'s flags is one line and exit 2, and `bench`
// without "ship" still takes its own flags.
func TestBenchShipUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "ship", "--size", "lots"},
		{"bench", "ship", "--sources", "0"},
		{"bench", "ship", "--max-wait", "5s,0s"},
		{"bench", "ship", "extra"},
		{"bench", "ship", "--target", "nginx"},
		{"bench", "--hosts", "0"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", args, code, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	if code := cli.Run(t.Context(), []string{"bench", "ship", "-h"}, strings.NewReader(""), &stdout, &bytes.Buffer{}); code != 0 || !strings.Contains(stdout.String(), "--delay-samples") {
		t.Errorf("bench ship -h: exit %d, %q", code, stdout.String())
	}
}

// Lines are 100–200 bytes, each ends in a newline, and the total is exact.
func TestWriteLines(t *testing.T) {
	var b bytes.Buffer
	n, err := bench.NewLineMaker(7, "lab-pc-07").WriteLines(&b, 1<<20+13, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1<<20+13 {
		t.Fatalf("%d bytes written, want %d", b.Len(), 1<<20+13)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		t.Fatal("the last line does not end in a newline")
	}
	lines := bytes.SplitAfter(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("\n"))
	if int64(len(lines)) != n {
		t.Fatalf("%d lines counted, %d found", n, len(lines))
	}
	for i, l := range lines[:len(lines)-2] { // the last two may be cut to fit
		if len(l) < 100 || len(l) > 200 || bytes.Count(l, []byte("\n")) != 1 {
			t.Fatalf("line %d is %d bytes: %q", i, len(l), l)
		}
	}
	if !bytes.Contains(lines[0], []byte(" lab-pc-07 ")) {
		t.Errorf("line 0 lacks the host: %q", lines[0])
	}
}

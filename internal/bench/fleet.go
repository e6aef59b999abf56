package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
)

// FleetOptions say what `cis490 bench fleet-health` measures: a day of
// index for Hosts hosts, each making a request every Every, then the real
// detector (this executable, a separate process) over it.
type FleetOptions struct {
	Hosts int
	Every time.Duration
	// Incremental is the time between the runs measured after the first
	// (the timer's 5 minutes).
	Incremental time.Duration
	// Runs is how many incremental runs are measured (each is reported).
	Runs     int
	Dir      string   // parent of the temporary folder; "" for os.TempDir()
	Keep     bool     // keep the temporary folder
	Command  []string // runs cis490; default this executable
	Env      []string // more environment for it
	Progress io.Writer
}

// FleetRun is one detector run.
type FleetRun struct {
	Name    string
	Lines   int64 // index lines it had to read
	Elapsed time.Duration
	Usage   ProcUsage
}

// FleetReport is what bench fleet-health measured.
type FleetReport struct {
	Hosts      int
	Every      time.Duration
	Lines      int64 // in the generated day
	IndexBytes int64 // on disk for that day
	StateBytes int64 // the detector's state after the first run
	Full       FleetRun
	// Incremental are the runs after it, each over Incremental more of
	// the index.
	Incremental []FleetRun
	Dir         string
}

// fleetLine is a typical log PUT's index line (the keys a real receiver
// writes, at their usual lengths).
func fleetLine(ts time.Time, host string, seq uint64) index.Line {
	return index.Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "logs", Status: 201,
		Bytes: 4096, Commit: "3f786850e387550fdab836ed7e6dc881de23001b", Instance: "9c2b4f0e51a7d3c8",
		Remote: "10.0.12.47:51234", DurMS: 3.2, Stream: "syslog", Gate: "unknown-commit",
		CertExpires: "2027-11-26T10:00:00Z", Seq: seq}
}

// writeIndex appends the lines of [from, to) to the day files in dir, the
// hosts taking turns evenly, and returns how many it wrote.
func writeIndex(dir string, hosts int, every time.Duration, from, to time.Time, seq *uint64) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	files := map[string]*bufio.Writer{}
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	step := every / time.Duration(hosts)
	var n int64
	var buf []byte
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		*seq++
		name := index.FileName(ts)
		w := files[name]
		if w == nil {
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return n, err
			}
			opened = append(opened, f)
			w = bufio.NewWriterSize(f, 1<<20)
			files[name] = w
		}
		l := fleetLine(ts, fmt.Sprintf("lab-%04d", *seq%uint64(hosts)), *seq)
		b, _ := l.MarshalJSON()
		buf = append(append(buf[:0], b...), '\n')
		if _, err := w.Write(buf); err != nil {
			return n, err
		}
		n++
	}
	for _, w := range files {
		if err := w.Flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// RunFleet generates the index and times the detector over it.
func RunFleet(ctx context.Context, o FleetOptions) (_ *FleetReport, err error) {
	o.Hosts, o.Every, o.Incremental, o.Runs = cmp0(o.Hosts, 1000), cmp0(o.Every, time.Minute), cmp0(o.Incremental, 5*time.Minute), cmp0(o.Runs, 3)
	cmd := o.Command
	if len(cmd) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd = []string{self}
	}
	say := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", a...)
		}
	}
	tmp, err := os.MkdirTemp(o.Dir, "cis490-bench-fleet-")
	if err != nil {
		return nil, err
	}
	if !o.Keep {
		defer os.RemoveAll(tmp)
	}
	data := datadir.Dir(filepath.Join(tmp, "data"))
	cfg := filepath.Join(tmp, "receiver.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \"data\"\n[fleet_health]\nsyslog = \"off\"\n"), 0o644); err != nil {
		return nil, err
	}
	rep := &FleetReport{Hosts: o.Hosts, Every: o.Every, Dir: tmp}
	// A whole UTC day, so its file is the index's disk use per day.
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	end := day.Add(24 * time.Hour)
	var seq uint64
	say("writing a day of index: %d hosts, a request every %s each…", o.Hosts, o.Every)
	if rep.Lines, err = writeIndex(data.Index(), o.Hosts, o.Every, day, end, &seq); err != nil {
		return nil, fmt.Errorf("write the index: %w", err)
	}
	if info, err := os.Stat(filepath.Join(data.Index(), index.FileName(day))); err == nil {
		rep.IndexBytes = info.Size()
	}
	run := func(name string, now time.Time, lines int64) (FleetRun, error) {
		// The index was just written, so it is in the page cache, as on a
		// receiver: written as requests arrive, read minutes later.
		var out bytes.Buffer
		c := exec.CommandContext(ctx, cmd[0], append(cmd[1:], "fleet-health", "--config", cfg, "--now", now.Format(time.RFC3339))...)
		c.Stdout, c.Stderr = &out, &out
		c.Env = append(os.Environ(), o.Env...)
		start := time.Now()
		if err := c.Run(); err != nil {
			return FleetRun{}, fmt.Errorf("%s run: %w\n%s", name, err, out.String())
		}
		r := FleetRun{Name: name, Lines: lines, Elapsed: time.Since(start), Usage: usageOf(c.ProcessState)}
		say("%s run: %d lines in %s, peak RSS %.1f MB", name, lines, r.Elapsed.Round(time.Millisecond), float64(r.Usage.MaxRSS)/1e6)
		return r, nil
	}
	// The first run: no state, it rebuilds from the last 24 h.
	if rep.Full, err = run("full", end, rep.Lines); err != nil {
		return nil, err
	}
	if info, err := os.Stat(fleethealth.StatePath(data.FleetHealth())); err == nil {
		rep.StateBytes = info.Size()
	}
	// Then the timer's runs: each over Incremental more index.
	now := end
	for i := range o.Runs {
		next := now.Add(o.Incremental)
		n, err := writeIndex(data.Index(), o.Hosts, o.Every, now, next, &seq)
		if err != nil {
			return nil, err
		}
		r, err := run(fmt.Sprintf("incremental %d", i+1), next, n)
		if err != nil {
			return nil, err
		}
		rep.Incremental = append(rep.Incremental, r)
		now = next
	}
	return rep, nil
}

// FormatFleet prints the report.
func FormatFleet(w io.Writer, r *FleetReport) {
	fmt.Fprintf(w, "index: %d hosts, a request every %s each: %s lines a day, %.2f GB a day on disk (%.0f bytes a line); detector state %.1f MB\n",
		r.Hosts, r.Every, Thousands(float64(r.Lines)), float64(r.IndexBytes)/1e9, float64(r.IndexBytes)/float64(max(r.Lines, 1)), float64(r.StateBytes)/1e6)
	fmt.Fprintf(w, "%-15s %12s %10s %10s %12s\n", "run", "lines read", "wall", "CPU", "peak RSS")
	for _, x := range append([]FleetRun{r.Full}, r.Incremental...) {
		fmt.Fprintf(w, "%-15s %12s %10s %10s %9.1f MB\n", x.Name, Thousands(float64(x.Lines)), MS(x.Elapsed), MS(x.Usage.CPU()), float64(x.Usage.MaxRSS)/1e6)
	}
}

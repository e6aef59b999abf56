package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"
)

// StartupOptions say what `cis490 bench startup` measures: for each of
// Appends, a store of that many appends of Size bytes, then the real
// receiver started on it, after a clean close and after a SIGKILL.
type StartupOptions struct {
	Appends []int64 // history sizes, one row each (0: a fresh store)
	Size    int     // bytes per append
	Hosts   int     // bench-0 …
	Streams int     // per host
	// PerDay is how many appends a simulated day holds: the history ends
	// now and reaches back Appends/PerDay days.
	PerDay int64
	// KillAppends is how many appends the killed builder adds before its
	// SIGKILL, on top of the store, for each killed run: the killed run i
	// (from 1) starts on Appends + i×KillAppends.
	KillAppends int64
	Runs        int // receiver starts per variant; the median (by ready) is shown
	// Cold drops the page cache before each start (root only), so the
	// start reads from the disk as after a reboot.
	Cold   bool
	Settle time.Duration // idle time after ready before RSS and heap are read (0: at once)
	// ReadyTimeout bounds one start-up (a large history on slow code).
	ReadyTimeout time.Duration
	Dir          string   // parent of the temporary folders; "" for os.TempDir()
	Keep         bool     // keep each store (the report names the folders)
	Command      []string // runs cis490; default this executable
	Env          []string // more environment for it
	Progress     io.Writer
}

// StartupMeasure is one start of the receiver.
type StartupMeasure struct {
	Appends int64         // in the store it started on
	Ready   time.Duration // process start to the first 200 on /healthz
	PeakRSS int64         // VmHWM after Settle
	RSS     int64         // VmRSS after Settle
	Heap    int64         // go_memstats_heap_inuse_bytes after Settle
}

// StartupRow is one history size.
type StartupRow struct {
	Appends int64
	Build   BuildResult // the clean build
	Clean   StartupMeasure
	Killed  StartupMeasure
	Dir     string // the folder, when kept
	// All are every run, clean then killed, as measured.
	All []StartupMeasure
}

// StartupReport is what bench startup measured.
type StartupReport struct {
	Opt  StartupOptions
	Rows []StartupRow
}

func (o *StartupOptions) defaults() {
	o.Size, o.Hosts, o.Streams, o.PerDay = cmp0(o.Size, 100), cmp0(o.Hosts, 100), cmp0(o.Streams, 2), cmp0(o.PerDay, 3_500_000)
	o.KillAppends, o.Runs = cmp0(o.KillAppends, 50_000), cmp0(o.Runs, 1)
	o.ReadyTimeout = cmp0(o.ReadyTimeout, 10*time.Minute)
	if len(o.Command) == 0 {
		if self, err := os.Executable(); err == nil {
			o.Command = []string{self}
		}
	}
}

// RunStartup measures each history size in turn, in its own folder,
// deleted before the next unless Keep.
func RunStartup(ctx context.Context, o StartupOptions) (*StartupReport, error) {
	o.defaults()
	rep := &StartupReport{Opt: o}
	for _, n := range o.Appends {
		row, err := startupRow(ctx, o, n)
		if err != nil {
			return rep, fmt.Errorf("%s appends: %w", Thousands(float64(n)), err)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// startupRow builds a store of n appends, starts the receiver on it Runs
// times, then Runs times adds KillAppends with a builder it SIGKILLs and
// starts the receiver on what that left.
func startupRow(ctx context.Context, o StartupOptions, n int64) (row StartupRow, err error) {
	t, err := PrepareCis490(Options{Hosts: 1, Dir: o.Dir, Command: o.Command, Env: o.Env, Keep: true, TOML: startupTOML})
	if err != nil {
		return row, err
	}
	defer func() {
		if o.Keep {
			row.Dir = t.Dir
		} else if rerr := os.RemoveAll(t.Dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	row.Appends = n
	say(o.Progress, "%s appends of %d bytes: building the store in %s…", Thousands(float64(n)), o.Size, t.Data)
	to := time.Now()
	from := to.Add(-time.Duration(float64(n) / float64(o.PerDay) * float64(24*time.Hour)))
	if row.Build, err = runBuilder(ctx, o, t.Data, n, from, to, false); err != nil {
		return row, err
	}
	say(o.Progress, "  built: %s appends/s, %.2f GB on disk", Thousands(row.Build.Rate()), float64(row.Build.Disk)/1e9)
	var clean, killed []StartupMeasure
	for i := range o.Runs {
		m, err := measureStart(ctx, o, t, fmt.Sprintf("clean start %d/%d", i+1, o.Runs), n)
		if err != nil {
			return row, err
		}
		clean = append(clean, m)
	}
	held := n
	for i := range o.Runs {
		last := to
		to = time.Now()
		if _, err := runBuilder(ctx, o, t.Data, o.KillAppends, last, to, true); err != nil {
			return row, err
		}
		held += o.KillAppends
		m, err := measureStart(ctx, o, t, fmt.Sprintf("start after SIGKILL %d/%d", i+1, o.Runs), held)
		if err != nil {
			return row, err
		}
		killed = append(killed, m)
	}
	row.Clean, row.Killed, row.All = medianStart(clean), medianStart(killed), append(clean, killed...)
	return row, nil
}

// startupTOML keeps every byte and line the builder wrote: the index's
// default 2 GiB cap would prune the larger histories' oldest days at
// start-up (retention's default, 90 days, already keeps them).
const startupTOML = `
[index]
max_bytes = 0
`

// measureStart starts the receiver on t's folder, times it to ready, lets
// it idle for Settle, reads its memory, and stops it.
func measureStart(ctx context.Context, o StartupOptions, t *Target, name string, appends int64) (m StartupMeasure, err error) {
	// The build's dirty pages go to disk now, not during the start-up.
	syscall.Sync()
	if o.Cold {
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
			return m, fmt.Errorf("drop the page cache for --cold (needs root): %w", err)
		}
	}
	if err := t.Launch(ctx, ReadyWait{Every: 5 * time.Millisecond, Within: o.ReadyTimeout}); err != nil {
		return m, err
	}
	defer func() {
		if cerr := t.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop the receiver: %w", cerr)
		}
	}()
	m = StartupMeasure{Appends: appends, Ready: t.Ready.Sub(t.Started)}
	select {
	case <-ctx.Done():
		return m, ctx.Err()
	case <-time.After(o.Settle):
	}
	// /proc first: the scrape below builds the fleet view (an hour of
	// index), which would count in the resident set.
	m.RSS, m.PeakRSS = memUsage(t.PID)
	if m.Heap, err = scrapeHeap(ctx, t); err != nil {
		return m, err
	}
	say(o.Progress, "  %s: ready in %s, peak RSS %s, settled RSS %s, heap in use %s", name, MS(m.Ready), MB(m.PeakRSS), MB(m.RSS), MB(m.Heap))
	return m, nil
}

// medianStart is the run with the median time to ready, whole, so a row's
// figures come from one start.
func medianStart(ms []StartupMeasure) StartupMeasure {
	if len(ms) == 0 {
		return StartupMeasure{}
	}
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b StartupMeasure) int { return int(a.Ready - b.Ready) })
	return s[(len(s)-1)/2]
}

// say prints a progress line, if there is somewhere to print it.
func say(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
}

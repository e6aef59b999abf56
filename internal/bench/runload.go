package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/localsrv"
)

// Target names `cis490 bench --target` takes.
const (
	TargetNginx  = "nginx"
	TargetCis490 = "cis490"
	// TargetPG is one receiver on the postgres+s3 backend.
	TargetPG = "cis490-pg"
	// TargetPG2 is two receivers on one postgres+s3 behind HAProxy.
	TargetPG2 = "cis490-pg2"
)

// ParseTargets reads --target: a comma-separated list of target names,
// run in that order; "both" is nginx then cis490.
func ParseTargets(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		names := []string{name}
		switch name {
		case TargetNginx, TargetCis490, TargetPG, TargetPG2:
		case "both":
			names = []string{TargetNginx, TargetCis490}
		default:
			return nil, fmt.Errorf("%q is not a target; say cis490, nginx, cis490-pg, cis490-pg2 or both, or a comma-separated list of them", name)
		}
		for _, n := range names {
			if slices.Contains(out, n) {
				return nil, fmt.Errorf("%s is named twice", n)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// LoadOptions say what `cis490 bench` runs: every target, size and run of
// a Load, one after the other on one machine.
type LoadOptions struct {
	Targets  []string // target names (ParseTargets), run in this order
	Hosts    int
	Sizes    []int // body bytes
	Runs     int   // runs per target and size
	Duration time.Duration
	Warmup   time.Duration
	// ServerPID, when set, is the process whose CPU is measured instead of
	// the server bench starts.
	ServerPID int
	Dir       string // parent of the temporary folders; "" for os.TempDir()
	Keep      bool   // keep the temporary folders
	// NginxTemplate is passed to StartNginx.
	NginxTemplate string
	// Command and Env are passed to StartCis490 (a test runs itself).
	Command, Env []string
	Syncs        bool          // count the server's fsync/fdatasync calls with perf
	WaitQuiet    time.Duration // before each run, wait up to this long for idle CPUs; 0 skips
	Profile      string        // a folder for perf profiles of each measured window; "" skips
	// Out gets the running commentary: a header, the machine, one line per
	// run as it ends. Progress gets warnings (a busy machine, a failed
	// counter). Either may be nil.
	Out, Progress io.Writer
	// VersityGW and HAProxy are the binaries the postgres+s3 targets run;
	// "" finds them (VersityGWPath, HAProxyPath).
	VersityGW, HAProxy string
}

// LoadReport is every run's Result and the median of each target and size.
type LoadReport struct {
	Options LoadOptions
	Results map[string]map[int][]*Result // target -> size -> runs
	Medians map[string]map[int]*Result   // target -> size -> median run (by req/s)
}

// RunLoad starts each target afresh for every run, puts the load on it and
// collects the figures. It is bounded in time whatever happens.
func RunLoad(ctx context.Context, o LoadOptions) (*LoadReport, error) {
	if len(o.Targets) == 0 || len(o.Sizes) == 0 || o.Runs < 1 {
		return nil, errors.New("bench: give at least one target, one size and one run")
	}
	out, warn := orDiscard(o.Out), orDiscard(o.Progress)
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return nil, err
		}
	}
	if slices.Contains(o.Targets, "nginx") {
		if _, err := NginxPath(); err != nil {
			return nil, err
		}
	}
	if err := findPGTools(&o); err != nil {
		return nil, err
	}

	// Bounded in time whatever happens: every run, plus set-up and slack.
	per := o.Warmup + o.Duration + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(o.Sizes)*len(o.Targets)*o.Runs)*per+time.Minute)
	defer cancel()

	// nginx's stored files (one per PUT) are deleted only at the end:
	// deleting many files on ext4 slows file creation for minutes after,
	// which would handicap the next nginx run.
	parent, done, err := parentFolder(o.Dir, "cis490-bench-", o.Keep, warn)
	if err != nil {
		return nil, err
	}
	defer done()
	if o.usesPG() && os.Geteuid() == 0 {
		// PostgreSQL runs as nobody, in a folder inside this one.
		if err := os.Chmod(parent, 0o711); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "cis490 bench: %d hosts, %s measured after %s warm-up, %d run(s) per target and size, sizes %s\n",
		o.Hosts, o.Duration, o.Warmup, o.Runs, sizeList(o.Sizes))
	fmt.Fprintf(out, "machine: %s\n\n", Machine(parent))

	rep := &LoadReport{Options: o, Results: map[string]map[int][]*Result{}, Medians: map[string]map[int]*Result{}}
	for _, t := range o.Targets {
		rep.Results[t] = map[int][]*Result{}
	}
	for _, size := range o.Sizes {
		for run := 1; run <= o.Runs; run++ {
			for _, tname := range o.Targets {
				res, err := loadRun(ctx, o, parent, tname, size, run, warn)
				if err != nil {
					return nil, err
				}
				rep.Results[tname][size] = append(rep.Results[tname][size], res)
				fmt.Fprintf(out, "run %d/%d %s\n", run, o.Runs, FormatLine(res))
			}
		}
	}
	for t, bySize := range rep.Results {
		rep.Medians[t] = map[int]*Result{}
		for size, rs := range bySize {
			rep.Medians[t][size] = Median(rs)
		}
	}
	return rep, nil
}

// loadRun is one run: a fresh target under one load.
func loadRun(ctx context.Context, o LoadOptions, parent, tname string, size, run int, warn io.Writer) (*Result, error) {
	// Flush the last run's dirty pages (nginx never syncs) outside
	// any measured window.
	syscall.Sync()
	if o.WaitQuiet > 0 {
		if b := WaitQuiet(ctx, 0.2, o.WaitQuiet); b >= 0.2 {
			fmt.Fprintf(warn, "cis490 bench: the CPUs are %.0f%% busy before the run (other processes); its figures are skewed\n", 100*b)
		}
	}
	opt := Options{Hosts: o.Hosts, Dir: parent, Keep: o.Keep || tname == "nginx", NginxTemplate: o.NginxTemplate,
		Command: o.Command, Env: o.Env}
	var t *Target
	var err error
	switch tname {
	case TargetNginx:
		t, err = StartNginx(ctx, opt)
	case TargetPG:
		t, err = StartCis490PG(ctx, opt, PGOptions{Receivers: 1, VersityGW: o.VersityGW})
	case TargetPG2:
		t, err = StartCis490PG(ctx, opt, PGOptions{Receivers: 2, VersityGW: o.VersityGW, HAProxy: o.HAProxy})
	default:
		t, err = StartCis490(ctx, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", tname, err)
	}
	syncCount := int64(-1)
	profile := ""
	if o.Profile != "" {
		profile = filepath.Join(o.Profile, fmt.Sprintf("%s-%d-run%d.perf.data", tname, size, run))
	}
	load := Load{Hosts: o.Hosts, Size: size, Duration: o.Duration, Warmup: o.Warmup, PID: o.ServerPID,
		During: func(pid int, _ time.Duration) func() {
			return measureWindow(pid, parent, o.Syncs, profile, &syncCount, warn)
		}}
	res, rerr := Run(ctx, t, load)
	if cerr := t.Close(); cerr != nil && rerr == nil {
		fmt.Fprintf(warn, "cis490 bench: stop %s: %v\n", tname, cerr)
	}
	if rerr != nil {
		return nil, fmt.Errorf("%s run %d: %w", tname, run, rerr)
	}
	res.Syncs = syncCount
	return res, nil
}

// usesPG reports whether a postgres+s3 target is asked for.
func (o *LoadOptions) usesPG() bool {
	return slices.Contains(o.Targets, TargetPG) || slices.Contains(o.Targets, TargetPG2)
}

// findPGTools checks, before any run, that the postgres+s3 targets'
// servers are installed, and finds the binaries not given.
func findPGTools(o *LoadOptions) error {
	if !o.usesPG() {
		return nil
	}
	if localsrv.PGBin() == "" {
		return errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); on Debian: apt-get install -y postgresql")
	}
	var err error
	if o.VersityGW, err = VersityGWPath(o.VersityGW); err != nil {
		return err
	}
	if slices.Contains(o.Targets, TargetPG2) && o.HAProxy == "" {
		if o.HAProxy, err = HAProxyPath(); err != nil {
			return err
		}
	}
	return nil
}

// measureWindow starts the perf counters a run asked for on pid and
// returns what stops them; the sync count lands in *syncCount.
func measureWindow(pid int, dir string, syncs bool, profile string, syncCount *int64, warn io.Writer) func() {
	var stops []func()
	if syncs {
		if nsync, err := SyncCounter(pid, dir); err != nil {
			fmt.Fprintf(warn, "cis490 bench: count syncs: %v\n", err)
		} else {
			stops = append(stops, func() {
				fds, fss, err := nsync()
				if err != nil {
					fmt.Fprintf(warn, "cis490 bench: count syncs: %v\n", err)
					return
				}
				*syncCount = fds + fss
			})
		}
	}
	if profile != "" {
		if stop, err := Profile(pid, profile); err != nil {
			fmt.Fprintf(warn, "cis490 bench: profile: %v\n", err)
		} else {
			stops = append(stops, func() {
				if err := stop(); err != nil {
					fmt.Fprintf(warn, "cis490 bench: profile: %v\n", err)
				}
			})
		}
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// FormatLoad writes the medians of r: a table, and with both targets the
// goal lines.
func FormatLoad(w io.Writer, r *LoadReport) {
	o := r.Options
	fmt.Fprintf(w, "\nmedian of %d run(s), %d hosts, %s each:\n\n", o.Runs, o.Hosts, o.Duration)
	Table(w, o.Targets, o.Sizes, r.Medians)
	if len(o.Targets) == 2 {
		fmt.Fprintln(w)
		GoalLines(w, r.Medians)
	}
	if o.usesPG() {
		fmt.Fprintln(w)
		PGLines(w, o.Sizes, r.Medians)
	}
}

// orDiscard is w, or io.Discard when it is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// parentFolder makes the temporary folder a bench's runs go in (under
// dir, "" for os.TempDir()); done removes it, unless keep, when it says
// where it is on warn instead.
func parentFolder(dir, prefix string, keep bool, warn io.Writer) (parent string, done func(), err error) {
	parent, err = os.MkdirTemp(dir, prefix)
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Fprintf(warn, "keeping the temporary folders in %s\n", parent)
		return parent, func() {}, nil
	}
	return parent, func() { os.RemoveAll(parent) }, nil
}

// sizeList is sizes as the --sizes flag takes them.
func sizeList(sizes []int) string {
	s := make([]string, len(sizes))
	for i, n := range sizes {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/config"
)

func runBench(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "ship" {
		return runBenchShip(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "fleet-health" {
		return runBenchFleet(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "startup" {
		return runBenchStartup(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "search" {
		return runBenchSearch(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "attack" {
		return runBenchAttack(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "attack-run" {
		return runBenchAttackRun(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "startup-build" {
		return runBenchStartupBuild(ctx, env, args[1:])
	}
	fs := newFlags(env, "bench", "[--target cis490,nginx,cis490-pg,cis490-pg2|both] [--hosts 32] [--duration 15s] [--sizes 4096,65536] [--runs 3] [flags]\n       cis490 bench ship [flags]   (the shipper benchmark; cis490 bench ship -h)\n       cis490 bench fleet-health [flags]   (the detector; cis490 bench fleet-health -h)\n       cis490 bench startup [flags]   (receiver start-up against history; cis490 bench startup -h)\n       cis490 bench attack [flags]   (honest hosts against hostile clients; cis490 bench attack -h)\n       cis490 bench search [flags]   (fleet-wide search against ripgrep; cis490 bench search -h)",
		`Load generator: N hosts, each with its own client certificate over one keep-alive
mutual TLS 1.3 connection, PUT bodies of a fixed size for a fixed time; prints
req/s, MB/s, p50/p99 latency, errors by status and the server's CPU per request.

--target cis490 starts the real receiver (this executable) in a temporary
folder with its own CA, host certificates and tokens; every PUT appends to the
host's stream and is durable (fsync) before its 201. --target nginx starts
Debian's nginx with WebDAV PUT (a new file per PUT, never fsynced), the peer
baseline. --target cis490-pg starts a fresh PostgreSQL (Debian's) and S3 server
(versitygw, which never fsyncs) and one receiver on the postgres+s3 backend;
cis490-pg2 two such receivers behind HAProxy (TCP, PROXY v2); both report each
component's CPU per request. --target takes a comma-separated list, run in
that order in each run; both is nginx,cis490. The table puts the median runs
side by side, with ratios when there are two targets. Loopback only; it stops
by itself.`)
	target := fs.String("target", "both", "targets, comma-separated: cis490, nginx, cis490-pg, cis490-pg2; both is nginx,cis490")
	versitygw := fs.String("versitygw", "", "the versitygw binary for cis490-pg and cis490-pg2 (default: versitygw on PATH)")
	jsonOut := fs.String("json", "", "also write every run's figures, each component's CPU per request included, as JSON to this file")
	hosts := fs.Int("hosts", 32, "concurrent hosts, one connection each")
	duration := durationVar(fs, "duration", 15*time.Second, "measured time per run")
	warmup := durationVar(fs, "warmup", 2*time.Second, "unmeasured load before each run's measured time")
	sizesFlag := fs.String("sizes", "4096,65536", "body sizes, comma-separated (4096 or 4KiB)")
	runs := fs.Int("runs", 3, "runs per target and size; the table shows the median run (by req/s)")
	serverPID := fs.Int("server-pid", 0, "measure this process's CPU (and its descendants') instead of the server bench starts")
	dir := fs.String("dir", "", "parent of the temporary folders (default $TMPDIR); its file system is the one measured")
	keep := fs.Bool("keep", false, "keep the temporary folders (data, certificates, logs)")
	tmpl := fs.String("nginx-template", "", "nginx config template with @RUN@ @CERTS@ @DATA@ @TOKEN@ (default: the built-in copy of shared/bench/nginx-peer.conf.template)")
	syncs := fs.Bool("syncs", false, "count the server's fsync/fdatasync calls with perf (shows the group commit's batching)")
	quiet := durationVar(fs, "wait-quiet", 30*time.Second, "before each run, wait up to this long for other processes to leave the CPUs at most 20% busy")
	profile := fs.String("profile", "", "record a perf CPU profile (perf.data) of the server in each measured window into this folder")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	targets, err := bench.ParseTargets(*target)
	if err != nil {
		return usagef("--target: %v", err)
	}
	switch {
	case *hosts < 1 || *hosts > 10000:
		return usagef("--hosts %d: give 1 to 10000", *hosts)
	case *runs < 1:
		return usagef("--runs %d: give 1 or more", *runs)
	case *duration <= 0 || *duration > time.Hour:
		return usagef("--duration %s: give a positive duration up to 1h", *duration)
	case *warmup < 0:
		return usagef("--warmup %s is negative", *warmup)
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := config.ParseSize(s)
		if err != nil {
			return usagef("--sizes: %v", err)
		}
		if n <= 0 || n > config.MiB/2 {
			return usagef("--sizes: %s is not between 1 byte and 512KiB (nginx's template takes at most 1m)", strings.TrimSpace(s))
		}
		sizes = append(sizes, int(n))
	}
	if (*syncs || *profile != "") && !bench.PerfAvailable() {
		return usagef("--syncs and --profile need perf (apt-get install -y linux-perf)")
	}
	// Created before the runs, so that a bad path fails in a second,
	// not after them.
	var jsonFile *os.File
	if *jsonOut != "" {
		if jsonFile, err = os.Create(*jsonOut); err != nil {
			return err
		}
		defer jsonFile.Close()
	}
	rep, err := bench.RunLoad(ctx, bench.LoadOptions{Targets: targets, Hosts: *hosts, Sizes: sizes, Runs: *runs,
		Duration: *duration, Warmup: *warmup, ServerPID: *serverPID, Dir: *dir, Keep: *keep, NginxTemplate: *tmpl,
		Syncs: *syncs, WaitQuiet: *quiet, Profile: *profile, VersityGW: *versitygw, Out: env.Stdout, Progress: env.Stderr})
	if err != nil {
		return err
	}
	bench.FormatLoad(env.Stdout, rep)
	if jsonFile != nil {
		if err := bench.WriteLoadJSON(jsonFile, rep); err != nil {
			return fmt.Errorf("write --json %s: %w", *jsonOut, err)
		}
		return jsonFile.Close()
	}
	return nil
}

func runBenchShip(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench ship", "[--size 1GiB] [--sources 50] [--idle 30s] [--delay-samples 50] [--max-wait 5s,100ms] [flags]",
		`Shipper benchmark: starts the real receiver and real `+"`cis490 ship`"+` processes (this
executable) in a temporary folder with their own CA, host certificate, token and
lab-host.toml, and measures the shipper:

  backlog  --size bytes of log lines written to one file before the shipper
           starts: time until the receiver holds them all, MB/s, the
           shipper's CPU time and peak RSS (its rusage after SIGTERM), the
           receiver's CPU;
  growing  the same, written while the shipper runs (--growing);
  spread   the same backlog spread over --sources files (--spread);
  idle     --sources small files, caught up: the shipper's CPU and wakeups
           over --idle (from /proc);
  delay    one line every --delay-every to one of those files: the time from
           write() returning until the receiver's length covers the line
           (HEAD), per batch.max_wait in --max-wait.

Every stream is then read back and compared with its file (--verify).`)
	sizeFlag := fs.String("size", "1GiB", "backlog bytes (and growing bytes), e.g. 1GiB or 4MiB")
	growing := fs.Bool("growing", true, "also ship --size bytes written while the shipper runs")
	chunk := fs.String("grow-chunk", "4KiB", "bytes per write() in the growing run")
	spread := fs.Bool("spread", true, "also ship a backlog of --size bytes spread over --sources files")
	sources := fs.Int("sources", 50, "files of the spread run, and sources of the idle and delay runs")
	idle := durationVar(fs, "idle", 30*time.Second, "measured idle time (0 skips it)")
	samples := fs.Int("delay-samples", 50, "lines whose delay is measured per max_wait (0 skips the delay runs)")
	every := durationVar(fs, "delay-every", 200*time.Millisecond, "one line this often in the delay runs")
	waits := fs.String("max-wait", "5s,100ms", "batch.max_wait of the delay runs, comma-separated; the first also for the idle run (5s is the default of lab-host.toml)")
	poll := durationVar(fs, "poll", 2*time.Millisecond, "pause between HEADs while measuring delay")
	verify := fs.Bool("verify", true, "read every stream back and compare it with its file")
	dir := fs.String("dir", "", "parent of the temporary folder (default $TMPDIR); its file system is the one measured")
	keep := fs.Bool("keep", false, "keep the temporary folder (files, data, configs, logs)")
	profile := fs.String("profile", "", "record perf CPU profiles of the shipper (backlog, growing, spread, idle) into this folder")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		return usagef("--size: %v", err)
	}
	chunkSize, err := config.ParseSize(*chunk)
	if err != nil {
		return usagef("--grow-chunk: %v", err)
	}
	var maxWaits []time.Duration
	for _, s := range strings.Split(*waits, ",") {
		cd, err := config.ParseDuration(strings.TrimSpace(s))
		d := cd.Duration()
		if err != nil {
			return usagef("--max-wait: %v", err)
		}
		if d < time.Millisecond || d > time.Minute || d%time.Millisecond != 0 {
			return usagef("--max-wait: %s is not a whole number of milliseconds from 1ms to 1m", strings.TrimSpace(s))
		}
		maxWaits = append(maxWaits, d)
	}
	switch {
	case size < 1 || size > 64*config.GiB:
		return usagef("--size %s: give 1 byte to 64GiB", *sizeFlag)
	case chunkSize < 512 || chunkSize > 16*config.MiB:
		return usagef("--grow-chunk %s: give 512 bytes to 16MiB", *chunk)
	case *sources < 1 || *sources > 1000:
		return usagef("--sources %d: give 1 to 1000", *sources)
	case *idle < 0 || *idle > time.Hour:
		return usagef("--idle %s: give 0 to 1h", *idle)
	case *samples < 0 || *samples > 100000:
		return usagef("--delay-samples %d: give 0 to 100000", *samples)
	case *every <= 0 || *every > time.Minute:
		return usagef("--delay-every %s: give a positive duration up to 1m", *every)
	case *poll < 0 || *poll > time.Second:
		return usagef("--poll %s: give 0 to 1s", *poll)
	}

	if *profile != "" {
		if !bench.PerfAvailable() {
			return usagef("--profile needs perf (apt-get install -y linux-perf)")
		}
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return err
		}
	}

	out := env.Stdout
	fmt.Fprintf(out, "cis490 bench ship: backlog %s, growing %v, spread %v, %d sources, idle %s, %d delay lines one every %s per max_wait %s\n",
		*sizeFlag, *growing, *spread, *sources, *idle, *samples, *every, *waits)
	rep, err := bench.RunShip(ctx, bench.ShipOptions{Size: int64(size), Growing: *growing, GrowChunk: int(chunkSize), Spread: *spread,
		Sources: *sources, Idle: *idle, DelaySamples: *samples, DelayEvery: *every, MaxWaits: maxWaits, Poll: *poll,
		Verify: *verify, Profile: *profile, Dir: *dir, Keep: *keep, Progress: env.Stderr})
	if rep != nil {
		printShip(env, rep, *keep)
	}
	return err
}

// printShip writes what bench ship measured: a line per run, then the
// table.
func printShip(env *Env, rep *bench.ShipReport, keep bool) {
	out := env.Stdout
	if keep {
		fmt.Fprintf(env.Stderr, "kept the temporary folder %s\n", rep.Dir)
	}
	fmt.Fprintln(out)
	for _, t := range rep.Throughput {
		fmt.Fprintf(out, "%s: %s\n", t.Name, bench.FormatThroughputLine(t))
	}
	if rep.Idle != nil {
		fmt.Fprintf(out, "idle: %s\n", bench.FormatIdleLine(rep.Idle))
	}
	for _, d := range rep.Delays {
		fmt.Fprintf(out, "delay: %s\n", bench.FormatDelayLine(d))
	}
	fmt.Fprintln(out)
	bench.FormatShip(out, rep)
}

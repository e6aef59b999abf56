package cli

import (
	"context"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/config"
)

func runBenchStartup(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench startup", "[--appends 0,1M,5M,20M] [--size 100] [--hosts 100] [--streams-per-host 2] [--runs 1] [--dir DIR] [--keep] [--settle 5s] [--cold]",
		`Receiver start-up against history: for each --appends count, writes a store
of that many appends at disk speed with the receiver's own storage code (each
append with its journaled index line, as a 201 PUT writes them; no network),
stamped over --per-day appends a simulated day ending now. Then starts the
real receiver (this executable, a separate process) on it and measures: time
from process start to the first 200 on /healthz (polled every 5 ms), peak
and settled RSS after --settle idle (/proc VmHWM, VmRSS), and the heap in
use (go_memstats_heap_inuse_bytes from /metrics). Then a builder adds
--kill-appends more and is SIGKILLed once they are durable, and the receiver
is measured again on what it left. One table; each store is deleted before
the next unless --keep. The first count, 0, is the fresh-store baseline.`)
	appendsFlag := fs.String("appends", "0,1M,5M,20M", "history sizes in appends, comma-separated (20000, 100k, 1M)")
	sizeFlag := fs.String("size", "100", "bytes per append (100 or 4KiB)")
	hosts := fs.Int("hosts", 100, "hosts bench-<i>, taking turns")
	streams := fs.Int("streams-per-host", 2, "streams per host (syslog, auth.log, …)")
	perDay := fs.String("per-day", "3.5M", "appends per simulated day: the history reaches back appends/per-day days")
	killFlag := fs.String("kill-appends", "50k", "appends the killed builder adds before each start after SIGKILL")
	runs := fs.Int("runs", 1, "receiver starts per store and variant; the table shows the median by time to ready")
	settle := durationVar(fs, "settle", 5*time.Second, "idle time after ready before memory is read")
	cold := fs.Bool("cold", false, "drop the page cache before each start (root), as after a reboot")
	readyTimeout := durationVar(fs, "ready-timeout", 10*time.Minute, "give up on a start-up after this long")
	dir := fs.String("dir", "", "parent of the temporary folders (default $TMPDIR); its file system is the one measured")
	keep := fs.Bool("keep", false, "keep each store (data, certificates, logs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	o := bench.StartupOptions{Hosts: *hosts, Streams: *streams, Runs: *runs, Settle: *settle, Cold: *cold, ReadyTimeout: *readyTimeout,
		Dir: *dir, Keep: *keep, Progress: env.Stderr}
	if err := startupCounts(&o, *appendsFlag, *sizeFlag, *perDay, *killFlag); err != nil {
		return err
	}
	switch {
	case *hosts < 1 || *hosts > 10000:
		return usagef("--hosts %d: give 1 to 10000", *hosts)
	case *streams < 1 || *streams > 100:
		return usagef("--streams-per-host %d: give 1 to 100", *streams)
	case *runs < 1 || *runs > 100:
		return usagef("--runs %d: give 1 to 100", *runs)
	case *settle < 0 || *settle > time.Hour:
		return usagef("--settle %s: give 0 to 1h", *settle)
	case *readyTimeout <= 0:
		return usagef("--ready-timeout %s: give a positive duration", *readyTimeout)
	}
	rep, err := bench.RunStartup(ctx, o)
	if rep != nil && len(rep.Rows) > 0 {
		bench.FormatStartup(env.Stdout, rep)
	}
	return err
}

// startupCounts reads bench startup's counts and size into o.
func startupCounts(o *bench.StartupOptions, appends, size, perDay, kill string) error {
	for _, s := range strings.Split(appends, ",") {
		n, err := bench.ParseCount(s)
		if err != nil {
			return usagef("--appends: %v", err)
		}
		o.Appends = append(o.Appends, n)
	}
	n, err := config.ParseSize(size)
	if err != nil {
		return usagef("--size: %v", err)
	}
	if n < 1 || n > config.MiB {
		return usagef("--size %s: give 1 byte to 1MiB", size)
	}
	o.Size = int(n)
	if o.PerDay, err = bench.ParseCount(perDay); err != nil || o.PerDay < 1 {
		return usagef("--per-day %q: give a positive count", perDay)
	}
	if o.KillAppends, err = bench.ParseCount(kill); err != nil || o.KillAppends < 1 {
		return usagef("--kill-appends %q: give a positive count", kill)
	}
	return nil
}

// runBenchStartupBuild is bench startup's store builder, run as a child
// process so that it can be SIGKILLed; not for people.
func runBenchStartupBuild(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench startup-build", "--data DIR --appends N --from T --to T [flags]",
		"The store builder of `cis490 bench startup` (a child process it starts).")
	var o bench.BuildOptions
	fs.StringVar(&o.Data, "data", "", "the receiver's data folder")
	fs.Int64Var(&o.Appends, "appends", 0, "appends to write")
	fs.IntVar(&o.Size, "size", 100, "bytes per append")
	fs.IntVar(&o.Hosts, "hosts", 100, "hosts")
	fs.IntVar(&o.Streams, "streams-per-host", 2, "streams per host")
	from := fs.String("from", "", "time of the first append (RFC 3339)")
	to := fs.String("to", "", "time of the last append (RFC 3339)")
	fs.BoolVar(&o.Hold, "hold", false, "once durable, report and keep the store open (to be SIGKILLed)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if o.From, err = time.Parse(time.RFC3339Nano, *from); err != nil {
		return usagef("--from: %v", err)
	}
	if o.To, err = time.Parse(time.RFC3339Nano, *to); err != nil {
		return usagef("--to: %v", err)
	}
	if o.Data == "" || o.Appends < 0 || o.Size < 1 || o.Hosts < 1 || o.Streams < 1 {
		return usagef("give --data, and positive --size, --hosts and --streams-per-host")
	}
	o.Progress, o.Log = env.Stderr, env.Log
	return bench.BuildStore(ctx, o, env.Stdout)
}

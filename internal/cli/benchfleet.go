package cli

import (
	"context"
	"time"

	"github.com/cis490/cis490/internal/bench"
)

func runBenchFleet(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench fleet-health", "[--hosts 1000] [--every 1m] [--runs 3] [--dir D] [--keep]",
		`Writes a day of index (HOSTS hosts, each making a request every EVERY) and times
the real detector over it, as a separate process: the first run (no state: it
rebuilds from the last 24 h), then RUNS runs of the timer, each over 5 more
minutes of index. Prints lines read, wall time, CPU and peak RSS per run, and
the index's disk use per day.`)
	hosts := fs.Int("hosts", 1000, "hosts in the index")
	every := durationVar(fs, "every", time.Minute, "each host's request interval (the shipper's busy default is 5s)")
	runs := fs.Int("runs", 3, "incremental runs after the first")
	dir := fs.String("dir", "", "parent of the temporary folder (default $TMPDIR)")
	keep := fs.Bool("keep", false, "keep the temporary folder")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *hosts < 1 || *hosts > 100000:
		return usagef("--hosts %d: give 1 to 100000", *hosts)
	case *every < time.Second:
		return usagef("--every %s: give at least 1s", *every)
	case *runs < 0 || *runs > 100:
		return usagef("--runs %d: give 0 to 100", *runs)
	}
	rep, err := bench.RunFleet(ctx, bench.FleetOptions{Hosts: *hosts, Every: *every, Runs: *runs, Dir: *dir, Keep: *keep, Progress: env.Stderr})
	if err != nil {
		return err
	}
	bench.FormatFleet(env.Stdout, rep)
	return nil
}

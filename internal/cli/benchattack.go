package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/config"
)

func runBenchAttack(ctx context.Context, env *Env, args []string) error {
	names := bench.AttackNames()
	var list strings.Builder
	for _, n := range names {
		list.WriteString("\n  " + n + ": " + bench.AttackWhat(n))
	}
	fs := newFlags(env, "bench attack", "[--attacks "+strings.Join(names, ",")+"] [--hosts 32] [--size 4KiB] [--think 50ms] [--attack-duration 10s] [flags]",
		`The receiver under hostile and overloaded clients: honest hosts (each its own
certificate and one keep-alive connection, opened before the attack) PUT
small bodies with a pause after each answer, while one attacker on the same
loopback address runs an attack for --attack-duration. Each phase starts a
fresh receiver (this executable) with its default limits: a baseline without
an attacker, each attack, and the baseline again. For each it prints the
honest hosts' req/s, success rate, non-2xx, reconnections and latency against
the baseline, the receiver's peak RSS and threads (/proc/<pid>/status) and the
growth of its data folder, and what the attacker got. Attacks:`+list.String())
	attacks := fs.String("attacks", strings.Join(names, ","), "attacks to run, comma-separated, in this order")
	hosts := fs.Int("hosts", 32, "honest hosts, one keep-alive connection each")
	sizeFlag := fs.String("size", "4KiB", "honest body bytes per PUT")
	think := durationVar(fs, "think", 50*time.Millisecond, "each honest host's pause between an answer and its next PUT (limits.host_rate is 50/s)")
	duration := durationVar(fs, "attack-duration", 10*time.Second, "each attack, and the honest hosts' measured window around it")
	warmup := durationVar(fs, "warmup", 2*time.Second, "honest load before each window (every host connects first)")
	settle := durationVar(fs, "settle", time.Second, "pause after each window before threads and disk are read again")
	quiet := durationVar(fs, "wait-quiet", 30*time.Second, "before each phase, wait up to this long for other processes to leave the CPUs at most 20% busy")
	dir := fs.String("dir", "", "parent of the temporary folders (default $TMPDIR)")
	keep := fs.Bool("keep", false, "keep the temporary folders (data, certificates, logs)")
	nice := fs.Int("attacker-nice", 19, "the attacker child process's nice level: a real attacker brings its own CPUs (0: the bench's priority)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	var chosen []string
	for _, a := range strings.Split(*attacks, ",") {
		a = strings.TrimSpace(a)
		if !slices.Contains(names, a) {
			return usagef("--attacks: no attack %q; say %s", a, strings.Join(names, ", "))
		}
		chosen = append(chosen, a)
	}
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		return usagef("--size: %v", err)
	}
	switch {
	case size < 1 || size > 8*config.MiB:
		return usagef("--size %s: give 1 byte to 8MiB (limits.max_body)", *sizeFlag)
	case *hosts < 1 || *hosts > 1000:
		return usagef("--hosts %d: give 1 to 1000", *hosts)
	case *think < 0 || *think > time.Minute:
		return usagef("--think %s: give 0 to 1m", *think)
	case *duration <= 0 || *duration > time.Hour:
		return usagef("--attack-duration %s: give a positive duration up to 1h", *duration)
	case *nice < 0 || *nice > 19:
		return usagef("--attacker-nice %d: give 0 to 19", *nice)
	case *warmup < 0 || *settle < 0 || *quiet < 0:
		return usagef("--warmup, --settle and --wait-quiet may not be negative")
	}
	rep, err := bench.RunAttack(ctx, bench.AttackOptions{Attacks: chosen, Hosts: *hosts, Size: int(size), Think: *think,
		Duration: *duration, Warmup: *warmup, Settle: *settle, WaitQuiet: *quiet, Dir: *dir, Keep: *keep, Nice: *nice,
		Out: env.Stdout, Progress: env.Stderr})
	if rep != nil {
		bench.FormatAttack(env.Stdout, rep)
	}
	return err
}

// runBenchAttackRun is bench attack's attacker, run as a child process so
// that its CPU is its own and can be niced; not for people.
func runBenchAttackRun(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench attack-run", "--spec FILE --out FILE",
		"The attacker of `cis490 bench attack` (a child process it starts).")
	spec := fs.String("spec", "", "the attack's spec (JSON)")
	out := fs.String("out", "", "where to write what came of it (JSON)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *spec == "" || *out == "" {
		return usagef("give --spec and --out")
	}
	return bench.RunAttacker(ctx, *spec, *out)
}

// Package cli is the command line of cis490: one file per subcommand, and the
// only place that parses flags or chooses an exit status.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"

	"github.com/cis490/cis490/internal/human"
)

// Env is what a command may touch of the process: its streams and a logger.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
}

type command struct {
	name    string
	summary string
	usage   string // flags and arguments, after the command name
	run     func(ctx context.Context, env *Env, args []string) error
}

// usageError is a mistake in how the command was called: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func commands() []command {
	return []command{
		{"receiver", "serve the HTTPS API (mTLS + bearer ingest)", "[--config receiver.toml]", runReceiver},
		{"ship", "ship this lab host's log files to the receiver", "[--config lab-host.toml]", runShip},
		{"fleet-health", "judge the fleet from the index; write alerts (timer, every 5 min)", "[--config receiver.toml] [--now T] [--dry-run]", runFleetHealth},
		{"migrate", "copy the local data folder into postgres+s3 and verify it (receiver stopped)", "[--config receiver.toml]", runMigrate},
		{"index", "print the receiver's index lines and alerts from a time on, as JSON Lines; --follow like tail -f", "--since 2h|TIME [--until 2h|TIME] [--follow] [--config receiver.toml]", runIndex},
		{"silence", "keep alerts from the notifiers for a while: `silence add`, `silence list`, `silence expire ID`", "add|list|expire [flags]", runSilence},
		{"status", "the fleet table from the receiver (GET /v1/fleet), worst first", "[--admin DIR] [--json]", runStatus},
		{"logs", "a host's streams, or one printed from a time or offset; --follow like tail -f", "HOST [STREAM] [--since 2h] [--follow]", runLogs},
		{"grep", "search every host's logs for a word, phrase or regexp; the lines stream back as found", "PATTERN [--hosts GLOB] [--since 2h] [-i] [--regex]", runGrep},
		{"doctor", "check this lab host: config, credentials, receiver, clock, code, backlog, units", "[--config lab-host.toml] [--json]", runDoctor},
		{"ship-health-check", "run the doctor and send its report to the receiver (daily timer)", "[--config lab-host.toml]", runShipHealthCheck},
		{"heartbeat", "tell the receiver this host is up, shutting down or going to sleep", "[--state up|shutdown|sleep]", runHeartbeat},
		{"ca", "fleet CA: `ca init`, `ca server-cert`, `ca issue --host NAME | --admin NAME`, `ca revoke --admin NAME`, `ca backup`, `ca restore`", "init|server-cert|issue|revoke|backup|restore [flags]", runCA},
		{"token", "join tokens: `token create --host NAME | --hosts PATTERN --uses N`, `token revoke ID`", "create|revoke [flags]", runToken},
		{"enroll", "join this host to the fleet with a join token (from a file or standard input)", "--receiver URL --host NAME [--token-file F|-]", runEnroll},
		{"cert-fetch", "renew this host's certificate when a third of its life is left (timer)", "[--config lab-host.toml] [--force]", runCertFetch},
		{"release", "signed releases: `release keygen`, `release sign`, `release publish`", "keygen|sign|publish [flags]", runRelease},
		{"autoupdate", "install the latest signed release, roll back if it breaks this host (timer)", "[--config lab-host.toml]", runAutoupdate},
		{"host", "host remove NAME: revoke a host's token and certificates, stop watching it", "remove NAME", runHost},
		{"demo", "a real receiver and simulated hosts on loopback", "[--dir DIR] [--duration 20s]", runDemo},
		{"bench", "load generator: N hosts with their own client certificates", "[flags]", runBench},
		{"version", "print the version and code commit", "", runVersion},
	}
}

// Run runs the command line args and returns the exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" && len(args) == 1 {
		printUsage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name, rest := args[0], args[1:]
	switch name {
	case "--version", "-v":
		// What every other tool answers to; the same words as `version`.
		name = "version"
	case "help":
		// `help ca init` is `ca init -h`: the subcommand's own flags.
		name, rest = rest[0], append(rest[1:], "-h")
	}
	for _, c := range cmds {
		if c.name != name {
			continue
		}
		err := c.run(ctx, env, rest)
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "cis490 %s: %s (see `cis490 help %s`)\n", name, ue.msg, name)
			return 2
		default:
			var ec *exitError
			if errors.As(err, &ec) {
				if ec.msg != "" {
					fmt.Fprintf(stderr, "cis490 %s: %s\n", name, ec.msg)
				}
				return ec.code
			}
			fmt.Fprintf(stderr, "cis490 %s: %v\n", name, err)
			return 1
		}
	}
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	if near := human.Nearest(name, names); near != "" {
		fmt.Fprintf(stderr, "cis490: unknown command %q; did you mean `cis490 %s`? (`cis490 help` lists them all)\n", name, near)
	} else {
		fmt.Fprintf(stderr, "cis490: unknown command %q; run `cis490 help` for the list\n", name)
	}
	return 2
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func printUsage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "cis490: a fleet log shipper that watches itself")
	fmt.Fprintln(w, "\nusage: cis490 <command> [flags]   (cis490 help <command> for its flags)")
	fmt.Fprintln(w, "\ncommands:")
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
}

// newFlags makes a FlagSet whose -h prints the command's usage to stdout.
func newFlags(env *Env, name, usage, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(env.Stdout, "usage: cis490 %s %s\n\n%s\n", name, usage, summary)
		printDefaults(env.Stdout, fs)
	}
	return fs
}

// printDefaults is fs.PrintDefaults, with durationFlags shown as
// "-ttl duration" like flag.Duration's rather than the "-ttl value" the flag
// package gives every flag.Value it does not know.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	out := b.String()
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(durationFlag); ok {
			out = strings.Replace(out, "  -"+f.Name+" value", "  -"+f.Name+" duration", 1)
		}
	})
	io.WriteString(w, out)
}

// parse parses flags, turning a flag mistake into a usage error and -h into
// the usage text.
// parseMixed is parse for commands whose flags may follow their arguments
// (`logs lab-1 syslog --since 2h`); it returns the arguments. "--" ends
// the flags.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {} // a mistake is one line on stderr, not the whole usage
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return err
		}
		return usagef("%s", flagMistake(err))
	}
	return nil
}

// invalidValueRE matches the flag package's `invalid value "5" for flag
// -duration: why`.
var invalidValueRE = regexp.MustCompile(`^invalid value ".*" for flag -(\S+): `)

// flagMistake is the flag package's error in the CLI's words: a bad value
// reads `--duration: "5" is a bare number without a unit; …`, the why
// (which quotes the value) once instead of after a restatement.
func flagMistake(err error) string {
	msg := strings.TrimSpace(err.Error())
	if m := invalidValueRE.FindStringSubmatch(msg); m != nil {
		return "--" + m[1] + ": " + msg[len(m[0]):]
	}
	return msg
}

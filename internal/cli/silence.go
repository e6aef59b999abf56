package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/vfs"
)

func runSilence(ctx context.Context, env *Env, args []string) error {
	return runGroup(ctx, env, "silence", []subcommand{
		{"add", "keep a host's (--host GLOB) or a symptom's (--symptom NAME) alerts from the notifiers for a while", silenceAdd},
		{"list", "the active silences (--all: and those ended in the last week)", silenceList},
		{"expire", "end a silence now, by the id `silence add` printed", silenceExpire},
	}, args)
}

func silenceAdd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "silence add", "--host GLOB | --symptom NAME (or both) --for 2h | --until T --reason TEXT [--by NAME] [--config receiver.toml]",
		`Silences alerts for a while, as Alertmanager does: the fleet-health detector
still writes the alerts it matches to alerts.jsonl (marked "silenced") and to
syslog (marked), but tells no notifier. --host is a glob of host names (lab-2?,
room-b-*; "*" also matches the fleet-level alerts, whose host is "*");
--symptom one symptom (its resolved line is silenced too). Prints the
silence's id; `+"`cis490 silence expire ID`"+` ends it early.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file (data_dir)")
	host := fs.String("host", "", "a glob of the host names to silence")
	symptom := fs.String("symptom", "", "the symptom to silence: "+strings.Join(fleethealth.Symptoms(), ", "))
	forD := durationVar(fs, "for", 0, "how long the silence lasts (2h, 3d)")
	until := fs.String("until", "", "when the silence ends (RFC 3339, e.g. 2026-11-26T18:00:00Z), instead of --for")
	reason := fs.String("reason", "", "why, for the next admin (one line)")
	by := fs.String("by", "", "who sets it (default: $SUDO_USER, else the user running this)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	now := time.Now().UTC()
	d := *forD
	switch {
	case *until != "" && d != 0:
		return usagef("give --for or --until, not both")
	case *until != "":
		t, err := time.Parse(time.RFC3339Nano, *until)
		if err != nil {
			return usagef("--until %q is not an RFC 3339 instant; write one like 2026-11-26T18:00:00Z", *until)
		}
		if d = t.Sub(now); d <= 0 {
			return usagef("--until %s has passed; a silence must end in the future", *until)
		}
	case d == 0:
		return usagef("give --for 2h or --until TIME: a silence must end, or it hides the next outage")
	}
	who := cmp.Or(strings.TrimSpace(*by), invoker())
	s, err := fleethealth.NewSilence(*host, *symptom, *reason, who, now, d)
	if err != nil {
		return usagef("%v", err)
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	err = changeSilences(ctx, env, cfg, now, func(ss []fleethealth.Silence) ([]fleethealth.Silence, error) {
		if slices.ContainsFunc(ss, func(o fleethealth.Silence) bool { return o.ID == s.ID }) {
			return nil, fmt.Errorf("silence id %s is taken already (a one-in-millions chance): run this again", s.ID)
		}
		return append(ss, s), nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", s.ID)
	fmt.Fprintf(env.Stderr, "silence %s: %s until %s (%s), by %s; end it early with `cis490 silence expire %s`\n",
		s.ID, s.Matcher(), s.Ends.Format(time.RFC3339), human.Duration(d), human.Visible(s.By), s.ID)
	return nil
}

func silenceList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "silence list", "[--all] [--config receiver.toml]",
		"Lists the active silences: id, matcher, since, until, who set them and why.")
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file (data_dir)")
	all := fs.Bool("all", false, "also the silences that ended in the last week")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	stg, closeState, err := receiverd.OpenState(ctx, cfg, env.Log)
	if err != nil {
		return err
	}
	defer closeState()
	ss, err := fleethealth.ReadSilences(stg.Detector)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if *all {
		ss = fleethealth.Kept(ss, now)
	} else {
		ss = fleethealth.Active(ss, now)
	}
	if len(ss) == 0 {
		_, err := fmt.Fprintln(env.Stdout, "no silence is active")
		return err
	}
	return writeSilences(env.Stdout, ss, now)
}

func silenceExpire(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "silence expire", "ID [--config receiver.toml]", "Ends a silence now: the detector's next run sends what it matches again.")
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file (data_dir)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give the silence's id, as `silence add` printed (`silence list` lists them)")
	}
	id := pos[0]
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	err = changeSilences(ctx, env, cfg, now, func(ss []fleethealth.Silence) ([]fleethealth.Silence, error) {
		return fleethealth.ExpireSilence(ss, id, now)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "silence %s ended; the detector's next run sends what it matches\n", id)
	return nil
}

// changeSilences changes the silences in the shared database, or in
// data_dir as its owner, so a root admin leaves a silences.json the
// receiver's user can still read and the detector's timer can still
// rewrite.
func changeSilences(ctx context.Context, env *Env, cfg *config.Receiver, now time.Time, change func([]fleethealth.Silence) ([]fleethealth.Silence, error)) error {
	if cfg.Storage.Shared() {
		stg, closeState, err := receiverd.OpenState(ctx, cfg, env.Log)
		if err != nil {
			return err
		}
		defer closeState()
		return fleethealth.ChangeSilences(stg.Detector, now, change)
	}
	dataDir := cfg.DataDir
	// Not made here if missing: a wrong --config must not plant a data
	// folder, owned by root, where no receiver runs.
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("data_dir: %w; run this on the receiver, with --config naming its receiver.toml", err)
	}
	return vfs.AsOwnerOf(dataDir, func() error {
		return fleethealth.ChangeSilences(fleethealth.Files(dataDir, ""), now, change)
	})
}

// invoker names the admin behind this command: the user who ran sudo,
// else the process's own user (root, when root ran it directly).
func invoker() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// writeSilences prints silences as a table, for `silence list` and
// `status`. Reasons and names are an admin's typing, shown through
// human.Visible all the same.
func writeSilences(w io.Writer, ss []fleethealth.Silence, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SILENCE\tMATCHES\tSINCE\tUNTIL\tBY\tREASON")
	for _, s := range ss {
		until := s.Ends.UTC().Format("2006-01-02 15:04Z")
		if s.ActiveAt(now) {
			until += " (in " + human.Duration(s.Ends.Sub(now)) + ")"
		} else {
			until += " (ended)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", human.Visible(s.ID), human.Visible(s.Matcher()), s.Created.UTC().Format("2006-01-02 15:04Z"),
			until, human.Visible(s.By), human.Visible(s.Reason))
	}
	return tw.Flush()
}

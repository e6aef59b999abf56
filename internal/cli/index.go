package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/receiverd"
)

func runIndex(ctx context.Context, env *Env, args []string) error {
	return indexCmd{poll: time.Second}.run(ctx, env, args)
}

// indexCmd is `cis490 index`; poll is how often --follow looks for more
// (tests make it short).
type indexCmd struct{ poll time.Duration }

func (c indexCmd) run(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "index", "--since 2h|TIME [--until 2h|TIME] [--follow] [--config receiver.toml]",
		`Prints the receiver's index lines (one per request) and the detector's alerts
from --since on, as JSON Lines in time order: each line is the index line or
alert line with "kind":"request" or "kind":"alert" first, so
jq 'select(.kind=="alert")' keeps one kind. --since and --until take how long
ago (2h, 30m) or an RFC 3339 time (2026-11-27T08:00:00Z); --until stops at
the first request stamped after it. --follow keeps printing lines as they
become durable, until interrupted. Read-only: it takes no lock, writes
nothing, and may run as data_dir's owner or as root.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file (data_dir)")
	sinceFlag := fs.String("since", "", "print from this long ago (2h, 30m) or this time (RFC 3339)")
	untilFlag := fs.String("until", "", "print up to this long ago or this time (RFC 3339)")
	follow := fs.Bool("follow", false, "keep printing new lines as they become durable (Ctrl-C stops)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *sinceFlag == "" {
		return usagef("say where to start: --since 2h, or --since 2026-11-27T08:00:00Z")
	}
	if *follow && *untilFlag != "" {
		return usagef("give --until or --follow, not both (--follow prints until interrupted)")
	}
	now := time.Now()
	since, err := parseWhen("since", *sinceFlag, now)
	if err != nil {
		return err
	}
	var until time.Time
	if *untilFlag != "" {
		if until, err = parseWhen("until", *untilFlag, now); err != nil {
			return err
		}
		if until.Before(since) {
			return usagef("--until %s is before --since %s; give an --until after it",
				until.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))
		}
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	// Only the read sides, of data_dir or of the shared database.
	stg, closeState, err := receiverd.OpenState(ctx, cfg, env.Log)
	if err != nil {
		return err
	}
	defer closeState()
	p := &indexPrinter{
		ix: stg.Index, alerts: stg.Detector,
		since: since, until: until, out: bufio.NewWriter(env.Stdout), log: env.Log,
	}
	if !*follow {
		return p.round(ctx)
	}
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		if err := p.round(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a clean stop
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// indexPrinter prints index lines and alerts from checkpoints it keeps,
// so each round prints only what became durable since the last.
type indexPrinter struct {
	ix           index.Source
	alerts       fleethealth.Store
	since, until time.Time
	icp          index.Checkpoint
	acp          fleethealth.AlertCheckpoint
	out          *bufio.Writer
	log          *slog.Logger
	buf          []byte
}

// errStopRead ends an alert read the printer no longer needs.
var errStopRead = errors.New("stop reading")

// round prints what the index and the alerts gained: index lines in the
// order they were written, each alert before the first line stamped after
// it. Both are streamed, so memory does not grow with the history.
func (p *indexPrinter) round(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var aerr error
	next, stop := iter.Pull(func(yield func(fleethealth.Alert) bool) {
		p.acp, aerr = p.alerts.AlertsSince(ctx, p.acp, p.since, func(a fleethealth.Alert) error {
			if !yield(a) {
				return errStopRead
			}
			return nil
		})
	})
	defer stop()
	var werr error // the first write error; it ends the round
	alert, more := next()
	printAlerts := func(before time.Time) {
		for ; more && werr == nil && (before.IsZero() || alert.TS.Before(before)); alert, more = next() {
			if !p.until.IsZero() && alert.TS.After(p.until) {
				continue
			}
			werr = p.printAlert(alert)
		}
	}
	cp, st, err := p.ix.Read(ctx, p.icp, p.since, p.until, func(l *index.Line) {
		if werr != nil {
			return
		}
		// A tie goes to the request: the detector judged it already.
		printAlerts(l.TS)
		if werr == nil {
			werr = p.printLine(l)
		}
		if werr != nil {
			cancel() // stop reading what cannot be printed
		}
	})
	if werr != nil {
		return fmt.Errorf("write the output: %w", werr)
	}
	if err != nil {
		return err // it names the file and what failed
	}
	p.icp = cp
	printAlerts(time.Time{})
	stop() // the alert read has ended; aerr is set
	if werr != nil {
		return fmt.Errorf("write the output: %w", werr)
	}
	if aerr != nil && !errors.Is(aerr, errStopRead) {
		return aerr // as the index's: it names the file and what failed
	}
	if st.Malformed > 0 {
		p.log.Warn("skipped index lines that are not index lines (cut short by a crash, or not the receiver's)", "count", st.Malformed)
	}
	if err := p.out.Flush(); err != nil {
		return fmt.Errorf("write the output: %w", err)
	}
	return nil
}

func (p *indexPrinter) printLine(l *index.Line) error {
	b, _ := l.MarshalJSON()
	return p.print("request", b)
}

func (p *indexPrinter) printAlert(a fleethealth.Alert) error {
	b, err := a.MarshalJSON()
	if err != nil {
		return err
	}
	return p.print("alert", b)
}

// print writes b, a JSON object, with "kind" as its first key.
func (p *indexPrinter) print(kind string, b []byte) error {
	p.buf = append(append(append(p.buf[:0], `{"kind":"`...), kind...), `",`...)
	p.buf = append(append(p.buf, b[1:]...), '\n')
	_, err := p.out.Write(p.buf)
	return err
}

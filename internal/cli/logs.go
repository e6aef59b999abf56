package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

func runLogs(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "logs", "HOST [STREAM] [--since 2h|TIME | --offset N] [--follow] [--raw] [--admin DIR]",
		`Without STREAM: lists HOST's streams. With it: prints the stream from its
start, from --offset N, or from --since (a duration before the receiver's
clock, like 2h, or a time like 2026-11-27T08:00:00Z: the receiver keeps when
each batch arrived); --follow then keeps printing what arrives, like tail -f,
until interrupted, and waits for a stream that does not exist yet, like
tail -F. On a terminal, control characters are shown (ESC as ^[) rather than
obeyed; --raw writes them as stored. Needs an admin bundle (cis490 ca issue --admin NAME).`)
	dir := fs.String("admin", envOr("CIS490_ADMIN", "."), "admin bundle folder DIR, from ca issue --admin ($CIS490_ADMIN sets the default)")
	recv := fs.String("receiver", "", "receiver URL (default: the bundle's receiver.url)")
	since := fs.String("since", "", "print from this long ago (2h, 30m) or this time (RFC 3339)")
	offset := fs.Int64("offset", -1, "print from this byte offset")
	follow := fs.Bool("follow", false, "keep printing what arrives (Ctrl-C stops)")
	every := durationVar(fs, "interval", time.Second, "how often --follow asks for more")
	raw := fs.Bool("raw", false, "on a terminal too, write control characters as stored (else made visible: ESC as ^[)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("give a host, and a stream to print: logs HOST [STREAM]")
	}
	host, err := names.Host(pos[0])
	if err != nil {
		return usagef("%q is not a host name: %v", pos[0], err)
	}
	if *since != "" && *offset >= 0 {
		return usagef("give --since or --offset, not both")
	}
	if *since != "" {
		// Checked here, sent as written: a duration is by the receiver's clock.
		if _, err := parseWhen("since", *since, time.Now()); err != nil {
			return err
		}
	}
	if *every < 100*time.Millisecond {
		return usagef("--interval %s is too short; give at least 100ms (each ask is a request the receiver indexes)", *every)
	}
	c, err := adminClient(env, *dir, *recv, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if len(pos) == 1 {
		return listStreams(ctx, env, c, host)
	}
	stream := pos[1]
	if err := names.Stream(stream); err != nil {
		return usagef("%q is not a stream name: %v", stream, err)
	}
	from := url.Values{wire.QueryOffset: {"0"}}
	switch {
	case *since != "":
		from = url.Values{wire.QuerySince: {*since}}
	case *offset >= 0:
		from = url.Values{wire.QueryOffset: {strconv.FormatInt(*offset, 10)}}
	}
	out := env.Stdout
	if !*raw && isTTY(out) {
		ts := &termSafe{w: out} // a host's log must not drive the admin's terminal
		defer ts.Flush()
		out = ts
	}
	err = c.Tail(ctx, host, stream, tailNotes(env, host, stream, from, *follow, *every), func(b []byte) error {
		_, err := out.Write(b)
		return err
	})
	if errors.Is(err, transport.ErrNoStream) {
		return noStream(ctx, c, host, stream)
	}
	return err
}

// tailNotes tells the admin, on stderr, what a read could not print and
// why a follow is waiting.
func tailNotes(env *Env, host, stream string, from url.Values, follow bool, every time.Duration) transport.TailOptions {
	return transport.TailOptions{
		From: from, Follow: follow, Every: every,
		OnWaiting: func() {
			fmt.Fprintf(env.Stderr, "cis490 logs: %s/%s does not exist yet; waiting for it\n", host, stream)
		},
		OnRetry: func(err error, wait time.Duration) {
			fmt.Fprintf(env.Stderr, "cis490 logs: %v; trying again in %s\n", err, wait)
		},
		OnPastEnd: func(at, length int64) {
			fmt.Fprintf(env.Stderr, "cis490 logs: offset %d is past the stream's end (%d bytes)\n", at, length)
		},
		OnDropped: func(n int64) {
			fmt.Fprintf(env.Stderr, "cis490 logs: %d bytes were dropped by the receiver's retention before they could be printed\n", n)
		},
	}
}

// noStream explains a stream that is not there, for an admin: the
// receiver's own sentence is written for the host that would ship it.
func noStream(ctx context.Context, c *transport.Client, host, stream string) error {
	all, err := c.Streams(ctx, host)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("%s has stored no logs: is the host's name right? (`cis490 status` lists the hosts)", host)
	}
	have := make([]string, len(all))
	for i, s := range all {
		have[i] = s.Stream
	}
	return fmt.Errorf("%s has no stream %q; it has %s (--follow waits for one that does not exist yet)", host, stream, strings.Join(have, ", "))
}

func listStreams(ctx context.Context, env *Env, c *transport.Client, host string) error {
	all, err := c.Streams(ctx, host)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		fmt.Fprintf(env.Stdout, "%s has stored no logs yet (is the name right? `cis490 status` lists the hosts)\n", host)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tBYTES\tKEPT FROM")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", s.Stream, s.Length, s.Start)
	}
	return tw.Flush()
}

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/transport"
)

func runGrep(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "grep", "PATTERN [--hosts GLOB] [--streams GLOB] [--since T] [--until T] [-i] [--substring|--regex] [--count] [--limit N] [--json] [--admin DIR]",
		`Searches every host's logs on the receiver and prints the matching lines as
they are found: HOST/STREAM@OFFSET TIME  LINE (cis490 logs HOST STREAM
--offset OFFSET shows what follows). PATTERN is text matched as written, with
word edges at its ends: "memory" finds "out of memory" but not "memoryless".
--substring matches inside words too, --regex takes a Go regular expression
(RE2 syntax), -i ignores case. --hosts and --streams narrow by name (shell
globs), --since and --until by time (2h, or 2026-11-27T08:00:00Z). A line is
searched on its first 64 KiB. A summary goes to standard error; a search cut
short by --limit or the receiver's time limit says how to continue
(--cursor). Exit 0 when something matched, 1 when nothing did, 2 on error.
Needs an admin bundle (cis490 ca issue --admin NAME).`)
	dir := fs.String("admin", envOr("CIS490_ADMIN", "."), "admin bundle folder DIR, from ca issue --admin ($CIS490_ADMIN sets the default)")
	recv := fs.String("receiver", "", "receiver URL (default: the bundle's receiver.url)")
	hosts := fs.String("hosts", "", "only hosts whose name matches this glob (lab-*)")
	streams := fs.String("streams", "", "only streams whose name matches this glob (*.log)")
	since := fs.String("since", "", "from this long ago (2h) or this time (RFC 3339)")
	until := fs.String("until", "", "up to this long ago or this time")
	fold := fs.Bool("i", false, "ignore case")
	substring := fs.Bool("substring", false, "match inside words too (exact substring)")
	regex := fs.Bool("regex", false, "PATTERN is a regular expression (RE2 syntax)")
	count := fs.Bool("count", false, "print only how many lines matched")
	limit := fs.Int("limit", 0, "stop after this many matching lines (0: all)")
	cursor := fs.String("cursor", "", "continue the search that printed this cursor")
	asJSON := fs.Bool("json", false, "print the receiver's answer as JSON Lines (hits, then the summary)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return grepUsage(err)
	}
	if len(pos) != 1 {
		return grepUsage(usagef("give one pattern: grep PATTERN (quote it if it has spaces)"))
	}
	if *substring && *regex {
		return grepUsage(usagef("give --substring or --regex, not both"))
	}
	q := search.Query{Pattern: pos[0], IgnoreCase: *fold}
	mode := "words"
	switch {
	case *substring:
		q.Mode, mode = search.Substring, "substring"
	case *regex:
		q.Mode, mode = search.Regex, "regex"
	}
	// Checked here for a quick answer; the receiver checks again.
	if _, err := search.Compile(q); err != nil {
		return grepUsage(usagef("%v", err))
	}
	v := url.Values{"q": {q.Pattern}, "mode": {mode}}
	now := time.Now()
	for _, f := range []struct{ name, val string }{{"since", *since}, {"until", *until}} {
		if f.val == "" {
			continue
		}
		if _, err := parseWhen(f.name, f.val, now); err != nil {
			return grepUsage(err)
		}
		v.Set(f.name, f.val)
	}
	for k, val := range map[string]string{"hosts": *hosts, "streams": *streams, "cursor": *cursor} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if *fold {
		v.Set("i", "1")
	}
	if *count {
		v.Set("count", "1")
	}
	if *limit < 0 {
		return grepUsage(usagef("--limit %d is negative; give how many lines at most (0: all)", *limit))
	}
	if *limit > 0 {
		v.Set("limit", strconv.Itoa(*limit))
	}
	c, err := adminClient(env, *dir, *recv, 2*time.Minute)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	defer c.Close()
	tty := isTTY(env.Stdout)
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	var sum *searchSummary
	err = c.Search(ctx, v, func(line []byte) error {
		var l searchAnswerLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("the receiver's search answer is not the JSON expected: %w", err)
		}
		if *asJSON {
			out.Write(line)
			out.WriteByte('\n')
		}
		switch l.Kind {
		case "hit":
			if !*asJSON {
				fmt.Fprintf(out, "%s/%s@%d %s  %s\n", l.Host, l.Stream, l.Offset, l.Time.UTC().Format(time.RFC3339), visible(l.Line, tty))
			}
			// A person watching sees the first hits at once.
			return out.Flush()
		case "summary":
			sum = &l.searchSummary
		}
		if l.Error != "" {
			fmt.Fprintf(env.Stderr, "cis490 grep: %s\n", l.Error)
		}
		return nil
	})
	out.Flush()
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) {
			return &exitError{code: 2, msg: te.Error()}
		}
		return &exitError{code: 2, msg: err.Error()}
	}
	if sum == nil {
		return &exitError{code: 2, msg: "the receiver's search answer ended without its summary; search again"}
	}
	if *count && !*asJSON {
		fmt.Fprintln(out, sum.Hits)
	}
	fmt.Fprintln(env.Stderr, sum.describe())
	if sum.Hits == 0 {
		return &exitError{code: 1}
	}
	return nil
}

// grepUsage makes a usage error exit 2, as grep's do (exit 1 is "no match").
func grepUsage(err error) error {
	var ue *usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return err // Run prints it and exits 2, or the help and 0
	}
	return &exitError{code: 2, msg: err.Error()}
}

// searchAnswerLine is one line of GET /v1/search's answer.
type searchAnswerLine struct {
	Kind   string    `json:"kind"`
	Host   string    `json:"host"`
	Stream string    `json:"stream"`
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"`
	Line   string    `json:"line"`
	Error  string    `json:"error"`
	searchSummary
}

// searchSummary is the answer's last line, as the receiver's search
// package writes it.
type searchSummary struct{ search.Summary }

func (s searchSummary) describe() string {
	msg := fmt.Sprintf("cis490 grep: %s in %s; %s scanned, %s skipped by the block filters",
		human.Count(int(s.Hits), "matching line"), human.Count(s.Streams, "stream"), human.Bytes(s.BytesScanned), human.Bytes(s.BytesSkipped))
	if s.LinesCut > 0 {
		msg += fmt.Sprintf("; %s longer than 64 KiB, matched and shown on their first 64 KiB", human.Count(int(s.LinesCut), "matching line"))
	}
	if s.Limited {
		msg += fmt.Sprintf("; cut short: continue with --cursor %s", s.Cursor)
	}
	return msg
}

// visible makes control characters in a host's line harmless on the
// admin's terminal (as cis490 logs does; not when piped).
func visible(line string, tty bool) string {
	if !tty {
		return line
	}
	out, rest := human.AppendVisible(nil, []byte(line), true)
	return string(human.AppendCut(out, rest))
}

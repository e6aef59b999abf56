// Package doctor is `cis490 doctor`: a lab host's self-checks — its config
// and credentials, the way to the receiver, its clock and code against
// the receiver's, the shipper's backlog and its systemd units — each with
// a status, a one-line finding and a one-line fix, within 10 s in all.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cis490/cis490/internal/human"
)

// Schema is the version of the JSON report; a change that is not an
// addition bumps it.
const Schema = 1

// Status of a check.
type Status string

// The statuses, worst last.
const (
	OK   Status = "ok"
	Skip Status = "skip" // not applicable here (no systemd) or not reachable (an earlier check failed)
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one check's outcome.
type Check struct {
	Name    string  `json:"name"`
	Status  Status  `json:"status"`
	Finding string  `json:"finding"`
	Fix     string  `json:"fix,omitempty"`
	TookMS  float64 `json:"took_ms"`
}

// Report is the doctor's JSON (`cis490 doctor --json`, and the snapshot
// `cis490 ship-health-check` sends).
type Report struct {
	Schema   int       `json:"schema"`
	Host     string    `json:"host"`
	Instance string    `json:"instance,omitempty"`
	Version  string    `json:"version"`
	Commit   string    `json:"commit"`
	At       time.Time `json:"at"`
	// OK is false when a check failed; Summary says which, in one line.
	OK      bool    `json:"ok"`
	Summary string  `json:"summary"`
	Checks  []Check `json:"checks"`
	// Facts are measurements the dashboard compares across the fleet.
	Facts Facts `json:"facts"`
}

// Facts are what a host is, measured, beside what its checks say.
type Facts struct {
	Kernel string `json:"kernel,omitempty"` // uname -r
	// ClockOffsetS is this host's clock minus the receiver's, in seconds,
	// bounded towards zero (the receiver's Date has whole seconds).
	ClockOffsetS *float64 `json:"clock_offset_s,omitempty"`
	// DiskFree is the free space where the shipper keeps its state.
	DiskFree int64 `json:"disk_free_bytes,omitempty"`
}

// Failed lists the checks that failed.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c.Name)
		}
	}
	return out
}

func (r *Report) finish() {
	var n [4]int
	var warned []string
	for _, c := range r.Checks {
		switch c.Status {
		case OK:
			n[0]++
		case Warn:
			n[1]++
			warned = append(warned, c.Name)
		case Fail:
			n[2]++
		default:
			n[3]++
		}
	}
	r.OK = n[2] == 0
	switch {
	case n[2] > 0:
		r.Summary = fmt.Sprintf("%d failing: %s", n[2], strings.Join(r.Failed(), ", "))
	case n[1] > 0:
		r.Summary = fmt.Sprintf("ok, %s: %s", human.Count(n[1], "warning"), strings.Join(warned, ", "))
	default:
		r.Summary = fmt.Sprintf("ok (%s)", human.Count(n[0], "check"))
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteTable writes the report for people: ✓ ! ✗ marks, aligned.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cis490 doctor: %s (%s, %s)\n", r.Host, r.Version, human.Commit(r.Commit))
	for _, c := range r.Checks {
		mark := map[Status]string{OK: "✓", Warn: "!", Fail: "✗", Skip: "-"}[c.Status]
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, c.Name, c.Finding)
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(tw, "\t\t→ %s\n", c.Fix)
		}
	}
	fmt.Fprintf(tw, "\n%s\n", r.Summary)
	return tw.Flush()
}

// step is one check: it reports, or returns skip when what it needs is
// missing. A local step reads only the config (and the clock), so it can
// run after a network step had to be abandoned.
type step struct {
	name    string
	timeout time.Duration
	run     func(ctx context.Context, e *env) Check
	local   bool
}

// runSteps runs each step with its own timeout, all within total. A step
// that overruns (a hung stat on a dead NFS mount, a receiver that never
// answers) is abandoned at its deadline and failed; once the total is
// spent the steps left are skipped, not failed for want of time.
func runSteps(ctx context.Context, e *env, steps []step, total time.Duration) []Check {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	var out []Check
	abandoned := ""
	for _, s := range steps {
		start := time.Now()
		switch {
		case ctx.Err() != nil:
			out = append(out, Check{Name: s.name, Status: Skip, Finding: fmt.Sprintf("not run: the doctor's %s were spent", total)})
			continue
		case abandoned != "" && (!s.local || abandoned == "config"):
			// It would read what the abandoned step (maybe still
			// running) writes.
			out = append(out, Check{Name: s.name, Status: Skip, Finding: "not run: " + abandoned + " did not finish"})
			continue
		}
		sctx, scancel := context.WithTimeout(ctx, s.timeout)
		done := make(chan Check, 1)
		go func() { done <- s.run(sctx, e) }()
		var c Check
		select {
		case c = <-done:
		case <-sctx.Done():
			select {
			case c = <-done: // it noticed the deadline itself
			case <-time.After(100 * time.Millisecond):
				c = Check{Status: Fail, Finding: fmt.Sprintf("did not finish within %s", s.timeout)}
				abandoned = s.name
			}
		}
		scancel()
		if c.Status == "" {
			c.Status = OK
		}
		c.Name = s.name
		c.TookMS = float64(time.Since(start).Microseconds()) / 1000
		out = append(out, c)
	}
	return out
}

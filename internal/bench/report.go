package bench

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Median returns the run with the median requests per second (the lower
// middle one for an even count), so that every figure of a table row comes
// from one run.
func Median(runs []*Result) *Result {
	if len(runs) == 0 {
		return nil
	}
	s := slices.Clone(runs)
	sort.SliceStable(s, func(i, j int) bool { return s[i].ReqPerSec() < s[j].ReqPerSec() })
	return s[(len(s)-1)/2]
}

// Goal is the target for durable ingest against the no-fsync peer:
// cis490 req/s at least Ratio times nginx's for bodies of Size bytes.
type Goal struct {
	Size  int
	Ratio float64
}

// Goals: ≥0.6× nginx for 4 KiB bodies and ≥0.8× for 64 KiB.
var Goals = []Goal{{4096, 0.6}, {65536, 0.8}}

// FormatLine is one run on one line.
func FormatLine(r *Result) string {
	s := fmt.Sprintf("%-6s %8s %3d hosts %6.1fs: %9s req/s %7.1f MB/s  p50 %s  p99 %s  max %s  server CPU %s/req  bench CPU %s/req  machine %3.0f%% busy (others %.0f%%)  errors %s",
		r.Target, SizeName(r.Size), r.Hosts, r.Elapsed.Seconds(), Thousands(r.ReqPerSec()), r.MBPerSec(),
		MS(r.P50), MS(r.P99), MS(r.Max), MS(r.ServerCPUPerReq()), MS(r.ClientCPUPerReq()), 100*r.MachineCPU, 100*r.OtherLoad(), FormatErrors(r))
	if len(r.Parts) > 0 {
		s += "  CPU/req:"
		for _, p := range r.Parts {
			s += fmt.Sprintf(" %s %s", p.Name, MS(r.PerReq(p.CPU)))
		}
	}
	if r.Syncs >= 0 {
		s += fmt.Sprintf("  syncs %s (%.0f/s", Thousands(float64(r.Syncs)), float64(r.Syncs)/r.Elapsed.Seconds())
		if r.Syncs > 0 {
			s += fmt.Sprintf(", %.1f req/sync", float64(r.OK)/float64(r.Syncs))
		}
		s += ")"
	}
	return s
}

// FormatErrors is "none" or "409:3 net:1 (first: …)".
func FormatErrors(r *Result) string {
	if len(r.Errors) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", k, r.Errors[k])
	}
	if r.FirstEr != "" {
		first := r.FirstEr
		if len(first) > 160 {
			first = first[:160] + "…"
		}
		fmt.Fprintf(&b, " (first: %s)", first)
	}
	return b.String()
}

// Table writes a Markdown table of the median runs: a column per target
// (in the order given) and, when there are two, the ratio of the second to
// the first. medians[target][size].
func Table(w io.Writer, targets []string, sizes []int, medians map[string]map[int]*Result) {
	fmt.Fprintf(w, "| size | figure |")
	for _, t := range targets {
		fmt.Fprintf(w, " %s |", t)
	}
	ratio := len(targets) == 2
	if ratio {
		fmt.Fprintf(w, " %s / %s |", targets[1], targets[0])
	}
	fmt.Fprintf(w, "\n|---|---|")
	for range targets {
		fmt.Fprintf(w, "--:|")
	}
	if ratio {
		fmt.Fprintf(w, "--:|")
	}
	fmt.Fprintln(w)
	type figure struct {
		name  string
		value func(*Result) float64
		text  func(*Result) string
	}
	figures := []figure{
		{"req/s", (*Result).ReqPerSec, func(r *Result) string { return Thousands(r.ReqPerSec()) }},
		{"MB/s", (*Result).MBPerSec, func(r *Result) string { return fmt.Sprintf("%.1f", r.MBPerSec()) }},
		{"p50 latency", func(r *Result) float64 { return float64(r.P50) }, func(r *Result) string { return MS(r.P50) }},
		{"p99 latency", func(r *Result) float64 { return float64(r.P99) }, func(r *Result) string { return MS(r.P99) }},
		{"server CPU per request", func(r *Result) float64 { return float64(r.ServerCPUPerReq()) }, func(r *Result) string { return MS(r.ServerCPUPerReq()) }},
		{"bench CPU per request", func(r *Result) float64 { return float64(r.ClientCPUPerReq()) }, func(r *Result) string { return MS(r.ClientCPUPerReq()) }},
		{"machine CPU busy", func(r *Result) float64 { return r.MachineCPU }, func(r *Result) string { return fmt.Sprintf("%.0f%%", 100*r.MachineCPU) }},
		{"other processes' CPU", func(r *Result) float64 { return r.OtherLoad() }, func(r *Result) string { return fmt.Sprintf("%.0f%%", 100*r.OtherLoad()) }},
		{"errors", func(r *Result) float64 { return float64(r.ErrorCount()) }, func(r *Result) string { return strconv.FormatInt(r.ErrorCount(), 10) }},
	}
	// A row per component of the targets made of several processes, after
	// the server's total; "–" for a target without that component.
	var parts []figure
	for _, name := range partNames(targets, sizes, medians) {
		cpu := func(r *Result) time.Duration { return r.PerReq(partCPU(r, name)) }
		parts = append(parts, figure{name + " CPU per request", func(r *Result) float64 { return float64(cpu(r)) }, func(r *Result) string {
			if !slices.ContainsFunc(r.Parts, func(p PartCPU) bool { return p.Name == name }) {
				return "–"
			}
			return MS(cpu(r))
		}})
	}
	server := slices.IndexFunc(figures, func(f figure) bool { return f.name == "server CPU per request" })
	figures = slices.Insert(figures, server+1, parts...)
	for _, size := range sizes {
		for i, f := range figures {
			label := ""
			if i == 0 {
				label = SizeName(size)
			}
			fmt.Fprintf(w, "| %s | %s |", label, f.name)
			var vals []float64
			for _, t := range targets {
				r := medians[t][size]
				if r == nil {
					fmt.Fprintf(w, " – |")
					vals = append(vals, 0)
					continue
				}
				fmt.Fprintf(w, " %s |", f.text(r))
				vals = append(vals, f.value(r))
			}
			if ratio {
				if vals[0] > 0 && !strings.Contains("errors|machine CPU busy|other processes' CPU", f.name) {
					fmt.Fprintf(w, " %.2f× |", vals[1]/vals[0])
				} else {
					fmt.Fprintf(w, " |")
				}
			}
			fmt.Fprintln(w)
		}
	}
}

// partNames are the components of the targets' median runs, in order of
// first appearance.
func partNames(targets []string, sizes []int, medians map[string]map[int]*Result) []string {
	var names []string
	for _, size := range sizes {
		for _, t := range targets {
			if r := medians[t][size]; r != nil {
				for _, p := range r.Parts {
					if !slices.Contains(names, p.Name) {
						names = append(names, p.Name)
					}
				}
			}
		}
	}
	return names
}

// partCPU is the CPU of r's component name, 0 if it has none.
func partCPU(r *Result, name string) time.Duration {
	for _, p := range r.Parts {
		if p.Name == name {
			return p.CPU
		}
	}
	return 0
}

// PGGoal is the target for the postgres+s3 backend: one receiver
// on it at least this times the local receiver's req/s.
const PGGoal = 0.5

// PGLines says, for each size, whether one postgres+s3 receiver met
// PGGoal against the local one, with its p99 (on an object store that
// never fsyncs), and what a second receiver behind HAProxy added.
func PGLines(w io.Writer, sizes []int, medians map[string]map[int]*Result) {
	for _, size := range sizes {
		local, pg, pg2 := medians[TargetCis490][size], medians[TargetPG][size], medians[TargetPG2][size]
		if pg != nil && local != nil && local.ReqPerSec() > 0 {
			r := pg.ReqPerSec() / local.ReqPerSec()
			verdict := "met"
			if r < PGGoal {
				verdict = "NOT met"
			}
			fmt.Fprintf(w, "%s: one postgres+s3 receiver at %.2f× the local receiver's req/s (goal ≥%.1f×): %s; p99 %s (the test object store, versitygw, never fsyncs)\n",
				SizeName(size), r, PGGoal, verdict, MS(pg.P99))
		}
		if pg2 != nil && pg != nil && pg.ReqPerSec() > 0 {
			fmt.Fprintf(w, "%s: two postgres+s3 receivers behind HAProxy at %.2f× one's req/s on this machine, which they share: a second machine's gain is computed from the CPU per request\n",
				SizeName(size), pg2.ReqPerSec()/pg.ReqPerSec())
		}
	}
}

// GoalLines says, for each size with a goal, whether cis490 met it against
// nginx.
func GoalLines(w io.Writer, medians map[string]map[int]*Result) {
	for _, g := range Goals {
		n, c := medians["nginx"][g.Size], medians["cis490"][g.Size]
		if n == nil || c == nil || n.ReqPerSec() == 0 {
			continue
		}
		r := c.ReqPerSec() / n.ReqPerSec()
		verdict := "met"
		if r < g.Ratio {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "%s: durable cis490 at %.2f× nginx req/s (goal ≥%.1f×): %s\n", SizeName(g.Size), r, g.Ratio, verdict)
	}
}

// SizeName is "4 KiB" for 4096, else the byte count.
func SizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// MS formats a duration in milliseconds.
func MS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.3f ms", ms)
}

// Thousands formats a rate with thousands separators.
func Thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Shipper targets from the issue.
const (
	// ShipRSSTarget: the shipper's peak RSS stays under 30 MB (10^6 bytes)
	// whatever the backlog.
	ShipRSSTarget = 30_000_000
	// ShipIdleTarget: "idle CPU near zero (no busy polling)", taken as at
	// most 0.1% of one CPU, 60 ms of CPU per minute.
	ShipIdleTarget = 60 * time.Millisecond
)

// sizeText is "1 GiB (1,073,741,824 bytes)" or just the bytes.
func sizeText(n int64) string {
	b := Thousands(float64(n)) + " bytes"
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB (%s)", n>>30, b)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%s)", n>>20, b)
	}
	return b
}

// MB formats bytes in megabytes (10^6).
func MB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// Secs formats a duration in seconds, or milliseconds below one.
func Secs(d time.Duration) string {
	if d < time.Second {
		return MS(d)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func statusText(m map[int]int64) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%s", k, Thousands(float64(m[k]))))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// FormatThroughputLine is one throughput run on one line.
func FormatThroughputLine(t *ShipThroughput) string {
	s := fmt.Sprintf("%s in %s = %.1f MB/s", sizeText(t.Bytes), Secs(t.Elapsed), t.MBPerSec())
	if t.Files > 1 {
		s = fmt.Sprintf("%s in %d files (%d streams) in %s = %.1f MB/s", sizeText(t.Bytes), t.Files, t.Files, Secs(t.Elapsed), t.MBPerSec())
	}
	if t.Name == "growing" {
		s += fmt.Sprintf(" (written in %s, %d-byte writes; all at the receiver %s after the last write)", Secs(t.WriteTime), t.Chunk, Secs(t.Tail))
	}
	s += fmt.Sprintf("; %s lines; PUTs %s; shipper CPU %s (user %s, sys %s) = %s per GiB, peak RSS %s (anon %s, file %s), %s voluntary + %s involuntary context switches; receiver CPU %s; bench CPU %s; machine %.0f%% busy, others %s",
		Thousands(float64(t.Lines)), statusText(t.Statuses), Secs(t.Shipper.CPU()), Secs(t.Shipper.User), Secs(t.Shipper.Sys),
		Secs(t.CPUPerGiB()), MB(t.Shipper.MaxRSS), MB(t.Shipper.PeakAnon), MB(t.Shipper.PeakFile), Thousands(float64(t.Shipper.Vcsw)), Thousands(float64(t.Shipper.Nivcsw)),
		Secs(t.Receiver), Secs(t.Bench), 100*t.Busy, Secs(t.Others))
	return s
}

// FormatIdleLine is the idle measurement on one line.
func FormatIdleLine(i *ShipIdle) string {
	return fmt.Sprintf("%d sources caught up, %s: shipper CPU %s (/proc stat: %s) = %s per minute (%.3f%% of a CPU); %s wakeups = %.1f/s over %d threads; RSS %s, peak so far %s; %d requests to the receiver; machine %.0f%% busy",
		i.Sources, Secs(i.Window), MS(i.CPU), MS(i.Ticks), MS(i.PerMinute(i.CPU)), 100*i.CPU.Seconds()/i.Window.Seconds(),
		Thousands(float64(i.Wakeups)), float64(i.Wakeups)/i.Window.Seconds(), i.Threads, MB(i.RSS), MB(i.HWM), i.Requests, 100*i.Busy)
}

// FormatDelayLine is one delay run on one line.
func FormatDelayLine(d *ShipDelay) string {
	return fmt.Sprintf("batch.max_wait %s: %d lines, one every %s: min %s  p50 %s  p99 %s  max %s; %d PUTs; HEAD polled every %s (round trip median %s, max %s); shipper CPU %s over its life, peak RSS %s",
		d.MaxWait, len(d.Delays), d.Every, Secs(d.Percentile(0)), Secs(d.Percentile(0.5)), Secs(d.Percentile(0.99)), Secs(d.Percentile(1)),
		d.PUTs, d.Poll, MS(d.HeadRTT), Secs(d.HeadMax), Secs(d.Shipper.CPU()), MB(d.Shipper.MaxRSS))
}

// FormatShip writes the whole report: the runs, Markdown tables and the
// verdicts against the targets.
func FormatShip(w io.Writer, r *ShipReport) {
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	if len(r.Throughput) > 0 {
		fmt.Fprintln(w, "| run | bytes | time | MB/s | PUTs | shipper CPU (user + sys) | per GiB | shipper peak RSS | of it: anon / file (sampled peaks) | receiver CPU | machine busy | others' CPU |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, t := range r.Throughput {
			name := t.Name
			if t.Files > 1 {
				name += fmt.Sprintf(" (%d files)", t.Files)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.1f | %s | %s (%s + %s) | %s | %s | %s / %s | %s | %.0f%% | %s |\n",
				name, sizeText(t.Bytes), Secs(t.Elapsed), t.MBPerSec(), statusText(t.Statuses),
				Secs(t.Shipper.CPU()), Secs(t.Shipper.User), Secs(t.Shipper.Sys), Secs(t.CPUPerGiB()),
				MB(t.Shipper.MaxRSS), MB(t.Shipper.PeakAnon), MB(t.Shipper.PeakFile), Secs(t.Receiver), 100*t.Busy, Secs(t.Others))
		}
		fmt.Fprintln(w)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintln(w, "| idle | window | shipper CPU | per minute | wakeups | RSS (peak) | requests |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
		fmt.Fprintf(w, "| %d sources, max_wait %s | %s | %s | %s | %.1f/s | %s (%s) | %d |\n\n",
			i.Sources, i.MaxWait, Secs(i.Window), MS(i.CPU), MS(i.PerMinute(i.CPU)), float64(i.Wakeups)/i.Window.Seconds(),
			MB(i.RSS), MB(i.HWM), i.Requests)
	}
	if len(r.Delays) > 0 {
		fmt.Fprintln(w, "| batch.max_wait | lines | min | p50 | p99 | max | PUTs |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
		for _, d := range r.Delays {
			fmt.Fprintf(w, "| %s | %d, one every %s | %s | %s | %s | %s | %d |\n", d.MaxWait, len(d.Delays), d.Every,
				Secs(d.Percentile(0)), Secs(d.Percentile(0.5)), Secs(d.Percentile(0.99)), Secs(d.Percentile(1)), d.PUTs)
		}
		fmt.Fprintln(w)
	}
	for _, line := range ShipVerdicts(r) {
		fmt.Fprintln(w, line)
	}
	switch {
	case r.Verified > 0:
		fmt.Fprintf(w, "verified: all %d streams at the receiver equal their files, byte for byte\n", r.Verified)
	case r.Verified < 0:
		fmt.Fprintln(w, "not verified (--verify=false)")
	default:
		fmt.Fprintln(w, "not verified: the benchmark stopped before")
	}
}

// ShipVerdicts says, for each target of the issue, whether it was met.
func ShipVerdicts(r *ShipReport) []string {
	var out []string
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	if r.PeakRSS > 0 {
		out = append(out, fmt.Sprintf("peak RSS of any shipper run: %s (target < %s): %s", MB(r.PeakRSS), MB(ShipRSSTarget), verdict(r.PeakRSS < ShipRSSTarget)))
	}
	if i := r.Idle; i != nil {
		pm := i.PerMinute(i.CPU)
		out = append(out, fmt.Sprintf("idle CPU with %d sources: %s per minute (target ≈ 0, taken as ≤ %s per minute): %s", i.Sources, MS(pm), MS(ShipIdleTarget), verdict(pm <= ShipIdleTarget)))
	}
	return out
}

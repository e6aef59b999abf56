package bench

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
)

// FormatPhaseLine is one phase on one line, as it ends.
func FormatPhaseLine(p *AttackPhase) string {
	h := p.Honest
	s := fmt.Sprintf("%-14s honest %s req/s  p50 %s  p99 %s  errors %s  reconnects %d  receiver CPU %s  attacker CPU %s  machine %.0f%% busy (others %.0f%%)  RSS %s → peak %s  threads %d/%d/%d  disk %s → %s",
		p.Name, Thousands(h.ReqPerSec()), MS(h.P50), MS(h.P99), FormatErrors(h), h.Dials, Secs(h.ServerCPU), Secs(p.AttackerCPU), 100*h.MachineCPU, 100*p.OthersLoad(),
		MB(p.RSSStart), MB(p.RSSPeak), p.ThreadsStart, p.ThreadsPeak, p.ThreadsAfter, MB(p.DiskBefore), MB(p.DiskAfter))
	if len(p.Attacker) > 0 {
		s += fmt.Sprintf("  attacker: %s, at most %d connections", outcomes(p.Attacker), p.AttackerPeak)
	}
	if e := p.Enrolls; e != nil {
		s += "  enrolls: " + enrollText(e)
	}
	if p.Err != nil {
		s += fmt.Sprintf("  ATTACK FAILED: %v", p.Err)
	}
	return s
}

// OthersLoad is the share of the machine's CPUs that was busy with
// neither the receiver, the honest hosts nor the attacker during the
// window: other people's builds, which skew a phase.
func (p *AttackPhase) OthersLoad() float64 {
	h := p.Honest
	return max(0, (h.OtherCPU-p.AttackerCPU).Seconds()) / (h.Elapsed.Seconds() * float64(runtime.NumCPU()))
}

// FormatAttack writes the report: a table of every phase against the
// baseline, what each attack got, and whether the goals were met.
func FormatAttack(w io.Writer, r *AttackReport) {
	if r.Baseline() == nil {
		return
	}
	base := r.Baseline()
	o := r.Options
	fmt.Fprintf(w, "\n%d honest hosts, %s PUTs every %s after each answer, %s per phase; each phase a fresh receiver with default limits; \"vs baseline\" against the %s:\n\n",
		o.Hosts, SizeName(o.Size), o.Think, o.Duration, base.Name)
	fmt.Fprintln(w, "| phase | honest req/s | vs baseline | success | non-2xx | reconnects | p50 | p99 | p99 vs baseline | receiver CPU | attacker CPU | machine busy | others' CPU | peak RSS | threads start / peak / after | disk growth | beyond honest |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, p := range r.Phases {
		h := p.Honest
		fmt.Fprintf(w, "| %s | %s | %.2f× | %s | %d | %d | %s | %s | %.2f× | %s | %s | %.0f %% | %.0f %% | %s | %d / %d / %d | %s | %s |\n",
			p.Name, Thousands(h.ReqPerSec()), ratio(h.ReqPerSec(), base.Honest.ReqPerSec()), successRate(h), h.ErrorCount(), h.Dials,
			MS(h.P50), MS(h.P99), ratio(float64(h.P99), float64(base.Honest.P99)), Secs(h.ServerCPU), Secs(p.AttackerCPU), 100*h.MachineCPU, 100*p.OthersLoad(), MB(p.RSSPeak),
			p.ThreadsStart, p.ThreadsPeak, p.ThreadsAfter, MB(p.DiskGrowth()), MB(extraDisk(p, base)))
	}
	fmt.Fprintln(w, "\n| attack | what it does | what the attacker got | its connections at once |")
	fmt.Fprintln(w, "|---|---|---|--:|")
	for _, p := range r.Phases {
		if p.Attacker == nil || strings.HasPrefix(p.Name, "baseline") {
			continue
		}
		got := outcomes(p.Attacker)
		if p.Enrolls != nil {
			got += "; honest enrollments meanwhile: " + enrollText(p.Enrolls)
		}
		if p.Err != nil {
			got += fmt.Sprintf("; the attack failed: %v", p.Err)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d |\n", p.Name, AttackWhat(p.Name), got, p.AttackerPeak)
	}
	fmt.Fprintln(w)
	for _, line := range AttackVerdicts(r) {
		fmt.Fprintln(w, line)
	}
}

// Baseline is the phase the attacks are compared with: of the baseline
// before the attacks and the one after, the one with more honest req/s.
// Other people's builds on the machine only ever lower a phase's figures,
// so the better baseline is the stricter comparison.
func (r *AttackReport) Baseline() *AttackPhase {
	var best *AttackPhase
	for _, p := range r.Phases {
		if strings.HasPrefix(p.Name, "baseline") && (best == nil || p.Honest.ReqPerSec() > best.Honest.ReqPerSec()) {
			best = p
		}
	}
	return best
}

// AttackVerdicts says, for each attack, whether the honest hosts kept the
// goals against the baseline, and if not, which.
func AttackVerdicts(r *AttackReport) []string {
	base := r.Baseline()
	if base == nil {
		return nil
	}
	var lines []string
	for _, p := range r.Phases {
		if strings.HasPrefix(p.Name, "baseline") {
			continue
		}
		var missed []string
		h := p.Honest
		if q := ratio(h.ReqPerSec(), base.Honest.ReqPerSec()); q < AttackThroughputGoal {
			missed = append(missed, fmt.Sprintf("throughput %.2f× the baseline (goal ≥ %.2f×)", q, AttackThroughputGoal))
		}
		if n := h.ErrorCount(); n > 0 {
			missed = append(missed, fmt.Sprintf("%d honest errors: %s", n, FormatErrors(h)))
		}
		if h.Dials > 0 {
			missed = append(missed, fmt.Sprintf("%d honest reconnections (a dropped connection)", h.Dials))
		}
		if d := p.RSSPeak - base.RSSPeak; d > AttackRSSBound {
			missed = append(missed, fmt.Sprintf("peak RSS %s, %s over the baseline's (bound %s)", MB(p.RSSPeak), MB(d), MB(AttackRSSBound)))
		}
		if d := p.ThreadsPeak - base.ThreadsPeak; d > AttackThreadBound {
			missed = append(missed, fmt.Sprintf("%d threads at the peak, %d over the baseline's (bound %d)", p.ThreadsPeak, d, AttackThreadBound))
		}
		if d := extraDisk(p, base); d > AttackDiskBound {
			missed = append(missed, fmt.Sprintf("disk grew %s beyond the honest appends' share (bound %s)", MB(d), MB(AttackDiskBound)))
		}
		if p.Err != nil {
			missed = append(missed, fmt.Sprintf("the attack did not run as meant: %v", p.Err))
		}
		if len(missed) == 0 {
			lines = append(lines, p.Name+": goals met")
		} else {
			lines = append(lines, p.Name+": NOT met: "+strings.Join(missed, "; "))
		}
	}
	return lines
}

// extraDisk is what p's data folder grew by beyond what its honest appends
// cost at the baseline's rate (bytes per acknowledged PUT).
func extraDisk(p, base *AttackPhase) int64 {
	if base.Honest.OK == 0 {
		return p.DiskGrowth()
	}
	per := float64(base.DiskGrowth()) / float64(base.Honest.OK)
	return p.DiskGrowth() - int64(per*float64(p.Honest.OK))
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// successRate is the share of the honest requests answered 2xx.
func successRate(r *Result) string {
	n := r.OK + r.ErrorCount()
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*float64(r.OK)/float64(n))
}

// outcomes is "401×12,345 refused×3", most frequent first.
func outcomes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return cmp.Compare(m[b], m[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "×" + Thousands(float64(m[k]))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " ")
}

func enrollText(e *Enrolls) string {
	s := fmt.Sprintf("%d enrolled (p50 %s, max %s), %d failed", e.OK, MS(e.P50), MS(e.Max), e.Errors)
	if e.FirstErr != "" {
		s += " (first: " + e.FirstErr + ")"
	}
	return s
}

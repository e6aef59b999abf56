package bench_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/bench"
)

// The whole `cis490 bench attack` once, briefly, against real receiver
// processes and a real attacker child: a baseline, the renew attack (a
// trickle per connection, honest enrollments beside it) and the baseline
// again, each with figures of the receiver read from /proc.
func TestRunAttack(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep, err := bench.RunAttack(t.Context(), bench.AttackOptions{Attacks: []string{"renew"}, Hosts: 2, Size: 4096,
		Think: 20 * time.Millisecond, Duration: 2 * time.Second, Warmup: 300 * time.Millisecond, Dir: t.TempDir(),
		Command: []string{exe}, Env: []string{"CIS490_BENCH_CHILD=1"}, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Phases) != 3 {
		t.Fatalf("%d phases, want baseline, renew, baseline again:\n%s", len(rep.Phases), out.String())
	}
	for _, p := range rep.Phases {
		if p.Honest.OK == 0 || p.Honest.ErrorCount() != 0 {
			t.Errorf("%s: honest hosts got %d 2xx and %s", p.Name, p.Honest.OK, bench.FormatErrors(p.Honest))
		}
		if p.RSSPeak <= 0 || p.ThreadsPeak <= 0 || p.DiskAfter <= 0 {
			t.Errorf("%s: peak RSS %d, threads %d, disk %d: the receiver was not measured", p.Name, p.RSSPeak, p.ThreadsPeak, p.DiskAfter)
		}
	}
	a := rep.Phases[1]
	if a.Err != nil {
		t.Fatalf("the attack failed: %v", a.Err)
	}
	// Each trickle takes far longer than the attack: all are still open.
	if a.Attacker["held"] == 0 || a.AttackerPeak == 0 {
		t.Errorf("the attacker got %v, at most %d connections; want trickles held", a.Attacker, a.AttackerPeak)
	}
	if a.Enrolls == nil || a.Enrolls.OK == 0 || a.Enrolls.Errors != 0 {
		t.Errorf("honest enrollments beside the attack: %+v", a.Enrolls)
	}
	var table strings.Builder
	bench.FormatAttack(&table, rep)
	for _, want := range []string{"| baseline | ", "| renew | ", "| baseline again | ", "\nrenew: "} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, table.String())
		}
	}
}

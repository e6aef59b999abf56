package bench_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/bench"
)

// The whole `cis490 bench` orchestration, once, against a real receiver:
// one run per size, its line as it ends, and a median for the table.
func TestRunLoad(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep, err := bench.RunLoad(t.Context(), bench.LoadOptions{Targets: []string{"cis490"}, Hosts: 1, Sizes: []int{4096},
		Runs: 1, Duration: 500 * time.Millisecond, Dir: t.TempDir(),
		Command: []string{exe}, Env: []string{"CIS490_BENCH_CHILD=1"}, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Medians["cis490"][4096]
	if m == nil || m.OK == 0 || m.ErrorCount() != 0 {
		t.Fatalf("median %+v, want some 2xx and no errors", m)
	}
	if !strings.Contains(out.String(), "run 1/1 ") {
		t.Errorf("no line for the run in:\n%s", out.String())
	}
	var table strings.Builder
	bench.FormatLoad(&table, rep)
	if !strings.Contains(table.String(), "median of 1 run(s), 1 hosts") {
		t.Errorf("FormatLoad:\n%s", table.String())
	}
}

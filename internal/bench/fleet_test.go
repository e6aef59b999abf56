package bench_test

import (
	"os"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/bench"
)

// TestRunFleet: the detector bench writes the day it says and times real
// detector runs over all of it, then over each 5 more minutes.
func TestRunFleet(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bench.RunFleet(t.Context(), bench.FleetOptions{Hosts: 20, Every: time.Minute, Runs: 2, Dir: t.TempDir(),
		Command: []string{exe}, Env: []string{"CIS490_BENCH_CHILD=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 20*24*60 || rep.Full.Lines != rep.Lines || len(rep.Incremental) != 2 || rep.Incremental[1].Lines != 100 {
		t.Fatalf("report %+v", rep)
	}
	if rep.IndexBytes < rep.Lines*200 || rep.StateBytes == 0 || rep.Full.Usage.MaxRSS == 0 {
		t.Fatalf("index %d bytes, state %d bytes, peak RSS %d: the runs did not happen as reported", rep.IndexBytes, rep.StateBytes, rep.Full.Usage.MaxRSS)
	}
}

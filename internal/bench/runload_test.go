package bench_test

import (
	"os"
	"slices"
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

func TestParseTargets(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"one", "cis490", []string{"cis490"}, ""},
		{"both keeps its order", "both", []string{"nginx", "cis490"}, ""},
		{"list in its order", "cis490, cis490-pg,cis490-pg2", []string{"cis490", "cis490-pg", "cis490-pg2"}, ""},
		{"both in a list", "both,cis490-pg", []string{"nginx", "cis490", "cis490-pg"}, ""},
		{"unknown", "cis490,postgres", nil, `"postgres" is not a target`},
		{"empty item", "cis490,", nil, `"" is not a target`},
		{"twice", "cis490,both", nil, "cis490 is named twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := bench.ParseTargets(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseTargets(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("ParseTargets(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
}

// A target of several processes gets a row per component in the table, a
// CPU/req list on its line, the goal line against the local receiver and
// its components in the JSON report.
func TestReportParts(t *testing.T) {
	ms := time.Millisecond
	local := &bench.Result{Target: "cis490", Size: 4096, Hosts: 2, Elapsed: time.Second, OK: 1000, Errors: map[string]int64{},
		P99: 4 * ms, ServerCPU: 100 * ms, Syncs: -1}
	pg := &bench.Result{Target: "cis490-pg", Size: 4096, Hosts: 2, Elapsed: time.Second, OK: 600, Errors: map[string]int64{},
		P99: 9 * ms, ServerCPU: 300 * ms, Syncs: -1,
		Parts: []bench.PartCPU{{Name: "receiver", CPU: 120 * ms}, {Name: "postgres", CPU: 60 * ms}, {Name: "s3", CPU: 120 * ms}}}
	med := map[string]map[int]*bench.Result{"cis490": {4096: local}, "cis490-pg": {4096: pg}}
	var b strings.Builder
	bench.Table(&b, []string{"cis490", "cis490-pg"}, []int{4096}, med)
	bench.PGLines(&b, []int{4096}, med)
	b.WriteString(bench.FormatLine(pg))
	rep := &bench.LoadReport{Options: bench.LoadOptions{Targets: []string{"cis490", "cis490-pg"}, Sizes: []int{4096}, Hosts: 2, Duration: time.Second},
		Results: map[string]map[int][]*bench.Result{"cis490": {4096: {local}}, "cis490-pg": {4096: {pg}}}, Medians: med}
	if err := bench.WriteLoadJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 4 KiB | req/s | 1,000 | 600 | 0.60× |",
		"|  | server CPU per request | 0.100 ms | 0.500 ms | 5.00× |\n|  | receiver CPU per request | – | 0.200 ms | |\n|  | postgres CPU per request | – | 0.100 ms | |\n|  | s3 CPU per request | – | 0.200 ms | |\n|  | bench CPU",
		"4 KiB: one postgres+s3 receiver at 0.60× the local receiver's req/s (goal ≥0.5×): met; p99 9.00 ms",
		"CPU/req: receiver 0.200 ms postgres 0.100 ms s3 0.200 ms",
		`"cpu_us_per_req": {
        "postgres": 100,
        "receiver": 200,
        "s3": 200
      }`,
		`"server_cpu_us_per_req": 500,`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

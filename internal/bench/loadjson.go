package bench

import (
	"encoding/json"
	"io"
	"time"
)

// loadJSON is `cis490 bench --json`'s report: every run, so that a model
// can be fed from one file. Times are microseconds, per 2xx answer where
// the name says per_req.
type loadJSON struct {
	Hosts     int       `json:"hosts"`
	DurationS float64   `json:"duration_s"`
	Runs      []runJSON `json:"runs"`
}

type runJSON struct {
	Target    string  `json:"target"`
	Size      int     `json:"size"`
	Run       int     `json:"run"`
	Median    bool    `json:"median"` // the run the table shows
	ReqPerSec float64 `json:"req_per_s"`
	MBPerSec  float64 `json:"mb_per_s"`
	OK        int64   `json:"ok"`
	P50US     float64 `json:"p50_us"`
	P99US     float64 `json:"p99_us"`
	MaxUS     float64 `json:"max_us"`
	// ServerCPUUS is every server process's CPU per request; CPUUS is
	// each component's, for the targets made of several.
	ServerCPUUS float64            `json:"server_cpu_us_per_req"`
	CPUUS       map[string]float64 `json:"cpu_us_per_req,omitempty"`
	BenchCPUUS  float64            `json:"bench_cpu_us_per_req"`
	MachineBusy float64            `json:"machine_busy"`
	OtherLoad   float64            `json:"other_load"`
	Errors      map[string]int64   `json:"errors"`
	Syncs       int64              `json:"syncs,omitempty"`
}

// WriteLoadJSON writes r as JSON.
func WriteLoadJSON(w io.Writer, r *LoadReport) error {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	out := loadJSON{Hosts: r.Options.Hosts, DurationS: r.Options.Duration.Seconds(), Runs: []runJSON{}}
	for _, t := range r.Options.Targets {
		for _, size := range r.Options.Sizes {
			for i, res := range r.Results[t][size] {
				j := runJSON{Target: t, Size: size, Run: i + 1, Median: r.Medians[t][size] == res,
					ReqPerSec: res.ReqPerSec(), MBPerSec: res.MBPerSec(), OK: res.OK,
					P50US: us(res.P50), P99US: us(res.P99), MaxUS: us(res.Max),
					ServerCPUUS: us(res.ServerCPUPerReq()), BenchCPUUS: us(res.ClientCPUPerReq()),
					MachineBusy: res.MachineCPU, OtherLoad: res.OtherLoad(), Errors: res.Errors}
				if res.Syncs >= 0 {
					j.Syncs = res.Syncs
				}
				if len(res.Parts) > 0 {
					j.CPUUS = map[string]float64{}
					for _, p := range res.Parts {
						j.CPUUS[p.Name] = us(res.PerReq(p.CPU))
					}
				}
				out.Runs = append(out.Runs, j)
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// ShipOptions say what `cis490 bench ship` measures. The receiver and
// every shipper are real processes (this executable, or Command); the
// shipper reads a real lab-host.toml and real files and ships over mutual
// TLS on loopback.
type ShipOptions struct {
	// Size is the backlog: bytes of log lines written to one file before
	// the shipper starts.
	Size int64
	// Growing also ships Size bytes written by this process (in writes of
	// GrowChunk bytes, as fast as it can) while the shipper runs.
	Growing   bool
	GrowChunk int
	// Spread also ships a backlog of Size bytes spread over Sources files,
	// all written before the shipper starts.
	Spread bool
	// Sources is how many small files the idle and delay runs follow.
	Sources int
	// Idle is the measured idle time, once those sources are caught up (0
	// skips it).
	Idle time.Duration
	// DelaySamples lines are appended, one every DelayEvery, to the first
	// source in each delay run; each line's delay is from its write()
	// returning to the receiver's length covering it (0 skips the runs).
	DelaySamples int
	DelayEvery   time.Duration
	// MaxWaits are the shipper's batch.max_wait in the delay runs, one run
	// each. The first also serves the idle measurement.
	MaxWaits []time.Duration
	// Poll is the pause between HEADs while delays are measured.
	Poll time.Duration
	// Verify reads every stream back (as an admin) and compares it with
	// its file, after the measurements.
	Verify bool
	// Profile, when set, is a folder for perf CPU profiles (perf record -g)
	// of the shipper: ship-backlog.perf.data, ship-growing.perf.data,
	// ship-spread.perf.data (each while it ships) and ship-idle.perf.data.
	Profile string

	Dir     string   // parent of the temporary folder; "" for os.TempDir()
	Keep    bool     // keep the temporary folder
	Command []string // runs cis490 (receiver and ship); default this executable
	Env     []string // more environment for those processes
	// Progress gets a line per step; nil for none.
	Progress io.Writer
}

// DefaultMaxWait is batch.max_wait when lab-host.toml does not set it.
const DefaultMaxWait = 5 * time.Second

// shipRig is the receiver and what the shipper runs need.
type shipRig struct {
	o      ShipOptions
	t      *Target
	argv   []string
	dir    string // the rig's folder (inside the receiver's)
	host   *apiClient
	admin  *apiClient
	ixDir  string
	ixCP   index.Checkpoint
	report *ShipReport
}

// RunShip measures the shipper: see ShipOptions. It is bounded in time
// whatever happens (shipTimeLimit).
func RunShip(ctx context.Context, o ShipOptions) (*ShipReport, error) {
	if o.Size <= 0 || o.Sources < 1 || o.DelaySamples < 0 || o.Idle < 0 {
		return nil, errors.New("bench ship: size and sources must be positive, samples and idle not negative")
	}
	if len(o.MaxWaits) == 0 {
		o.MaxWaits = []time.Duration{DefaultMaxWait}
	}
	o.GrowChunk = cmp0(o.GrowChunk, 4096)
	o.DelayEvery = cmp0(o.DelayEvery, 200*time.Millisecond)
	o.Poll = cmp0(o.Poll, 2*time.Millisecond)
	ctx, cancel := context.WithTimeout(ctx, shipTimeLimit(o))
	defer cancel()
	t, err := StartCis490(ctx, Options{Hosts: 1, Dir: o.Dir, Command: o.Command, Env: o.Env, Keep: o.Keep, Admin: true})
	if err != nil {
		return nil, fmt.Errorf("start the receiver: %w", err)
	}
	defer t.Close()
	r := &shipRig{o: o, t: t, dir: filepath.Join(t.Dir, "ship"), ixDir: datadir.Dir(filepath.Join(t.Dir, "data")).Index(),
		report: &ShipReport{Machine: Machine(t.Dir), Dir: t.Dir, Verified: -1}}
	if o.Verify {
		r.report.Verified = 0 // asked, not done yet
	}
	r.argv = o.Command
	if len(r.argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the cis490 executable: %w", err)
		}
		r.argv = []string{exe}
	}
	r.host, r.admin = newAPIClient(t, t.Hosts[0]), newAPIClient(t, *t.Admin)
	defer r.host.close()
	defer r.admin.close()
	if err := r.writeCreds(); err != nil {
		return nil, err
	}
	r.progress("receiver pid %d at %s; folder %s", t.PID, t.Addr, t.Dir)

	files := map[string]string{} // stream -> file, for the verification
	runs := []string{"backlog"}
	if o.Growing {
		runs = append(runs, "growing")
	}
	if o.Spread {
		runs = append(runs, "spread")
	}
	for _, name := range runs {
		res, fs, err := r.throughput(ctx, name)
		if res != nil {
			r.report.Throughput = append(r.report.Throughput, res)
			r.report.PeakRSS = max(r.report.PeakRSS, res.Shipper.MaxRSS)
		}
		if err != nil {
			return r.report, err
		}
		maps.Copy(files, fs)
	}
	srcs, err := r.sources(ctx)
	if err != nil {
		return r.report, err
	}
	for _, p := range srcs {
		files[filepath.Base(p)] = p
	}
	streams := slices.Sorted(maps.Keys(files))
	if o.Verify {
		r.progress("verifying %d streams against their files", len(streams))
		for _, s := range streams {
			if err := r.verify(ctx, s, files[s]); err != nil {
				return r.report, err
			}
		}
		r.report.Verified = len(streams)
	}
	if err := t.Close(); err != nil {
		return r.report, fmt.Errorf("stop the receiver: %w", err)
	}
	return r.report, nil
}

// shipTimeLimit bounds a RunShip whatever happens: ten minutes, plus the
// data at 5 MB/s, the idle time and every delay run with its slack.
func shipTimeLimit(o ShipOptions) time.Duration {
	limit := 10*time.Minute + time.Duration(2*o.Size/5e6)*time.Second + o.Idle
	for _, w := range o.MaxWaits {
		limit += time.Duration(o.DelaySamples)*o.DelayEvery + 2*w + 40*time.Second
	}
	return limit
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (r *shipRig) progress(format string, a ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "bench ship: "+format+"\n", a...)
	}
}

package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// sources runs the idle measurement and the delay runs on Sources small
// files; it returns their paths.
func (r *shipRig) sources(ctx context.Context) ([]string, error) {
	o := r.o
	if o.Idle == 0 && o.DelaySamples == 0 {
		return nil, nil
	}
	dir := filepath.Join(r.dir, "files", "sources")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, o.Sources)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("src-%02d.log", i))
		f, err := os.Create(paths[i])
		if err != nil {
			return nil, err
		}
		_, err = NewLineMaker(uint64(100+i), "lab-pc-07").WriteLines(f, 2000+int64(i)*37, 4096)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	for k, w := range o.MaxWaits {
		if k > 0 && o.DelaySamples == 0 {
			break
		}
		conf, err := r.writeConfig("sources", paths, w)
		if err != nil {
			return nil, err
		}
		p, err := r.startShipper(conf)
		if err != nil {
			return nil, err
		}
		usage, err := r.sourcesRun(ctx, p, k == 0, paths, w)
		p.kill()
		if err != nil {
			return nil, err
		}
		r.report.PeakRSS = max(r.report.PeakRSS, usage.MaxRSS)
	}
	return paths, nil
}

// sourcesRun waits until every source is caught up, measures idleness (if
// idle) and then delay; it stops the shipper and returns its usage. On an
// error the caller kills the shipper.
func (r *shipRig) sourcesRun(ctx context.Context, p *proc, idle bool, paths []string, w time.Duration) (ProcUsage, error) {
	o := r.o
	r.progress("sources: waiting for %d sources to be caught up (batch.max_wait %s)", len(paths), w)
	for _, path := range paths {
		st, err := os.Stat(path) // grown by earlier delay runs
		if err != nil {
			return ProcUsage{}, err
		}
		if _, err := r.waitLength(ctx, p, filepath.Base(path), st.Size(), 20*time.Millisecond); err != nil {
			return ProcUsage{}, err
		}
	}
	if idle && o.Idle > 0 {
		// Let the last acknowledgements' checkpoints and connections settle.
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return ProcUsage{}, err
		}
		if err := r.markIndex(); err != nil {
			return ProcUsage{}, err
		}
		r.progress("idle: measuring %s with %d sources caught up", o.Idle, len(paths))
		pid := p.pid()
		b0, t0 := machineCPU()
		th0 := threadUsage(pid)
		st0, _ := readStat(strconv.Itoa(pid))
		start := time.Now()
		stopProfile := r.profile(p, "idle")
		if err := sleepCtx(ctx, o.Idle); err != nil {
			return ProcUsage{}, err
		}
		th1 := threadUsage(pid)
		st1, _ := readStat(strconv.Itoa(pid))
		b1, t1 := machineCPU()
		window := time.Since(start)
		if !p.running() {
			_, err := p.stop()
			return ProcUsage{}, fmt.Errorf("idle: the shipper exited: %w", err)
		}
		rss, hwm := memUsage(pid)
		stopProfile()
		id := &ShipIdle{Sources: len(paths), MaxWait: w, Window: window, CPU: th1.cpu - th0.cpu, Ticks: st1.cpu - st0.cpu,
			Wakeups: th1.switches - th0.switches, Threads: th1.threads, RSS: rss, HWM: hwm}
		if t1 > t0 {
			id.Busy = float64(b1-b0) / float64(t1-t0)
		}
		if err := r.countIndex(func(l index.Line) {
			if l.Host == r.t.Hosts[0].Name && l.Method != http.MethodHead {
				id.Requests++
			}
		}); err != nil {
			return ProcUsage{}, err
		}
		r.report.Idle = id
		r.progress("idle: %s", FormatIdleLine(id))
	}
	var d *ShipDelay
	if o.DelaySamples > 0 {
		var err error
		if d, err = r.delay(ctx, p, paths[0], w, len(paths)); err != nil {
			return ProcUsage{}, err
		}
	}
	usage, err := p.stop()
	if err != nil {
		return usage, err
	}
	if d != nil {
		d.Shipper = usage
		r.report.Delays = append(r.report.Delays, d)
		r.progress("delay: %s", FormatDelayLine(d))
	}
	return usage, nil
}

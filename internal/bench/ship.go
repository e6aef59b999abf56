package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
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

// ProcUsage is what the kernel says a process used over its life
// (getrusage after it exited).
type ProcUsage struct {
	User, Sys    time.Duration
	MaxRSS       int64 // bytes (peak resident set)
	Vcsw, Nivcsw int64 // voluntary and involuntary context switches
}

// CPU is user+system time.
func (u ProcUsage) CPU() time.Duration { return u.User + u.Sys }

// ShipThroughput is one run that ships Bytes through the receiver.
type ShipThroughput struct {
	Name      string // "backlog" (written before the start), "growing" or "spread"
	Bytes     int64
	Files     int // how many files (streams) the bytes are in
	Lines     int64
	Chunk     int           // growing: bytes per write
	MaxWait   time.Duration // the shipper's batch.max_wait
	Elapsed   time.Duration // from the shipper's start until the receiver held every byte
	WriteTime time.Duration // growing: how long the writes took
	// Tail is, growing, how long after the last write the receiver held
	// every byte.
	Tail     time.Duration
	PUTs     int64         // PUTs of this stream the receiver indexed
	Statuses map[int]int64 // their statuses
	Shipper  ProcUsage     // the shipper process, start to exit
	Receiver time.Duration // the receiver's CPU over Elapsed
	Bench    time.Duration // this process's CPU over Elapsed (the writer, HEAD polls)
	Busy     float64       // share of all CPUs busy over Elapsed
	Others   time.Duration // busy CPU time that was none of those three
	Log      string        // the shipper's log file
}

// MBPerSec is 10^6 bytes per second over Elapsed.
func (t *ShipThroughput) MBPerSec() float64 { return float64(t.Bytes) / 1e6 / t.Elapsed.Seconds() }

// CPUPerGiB is the shipper's CPU time per GiB shipped.
func (t *ShipThroughput) CPUPerGiB() time.Duration {
	return time.Duration(float64(t.Shipper.CPU()) * float64(1<<30) / float64(t.Bytes))
}

// ShipIdle is a caught-up shipper with nothing to ship.
type ShipIdle struct {
	Sources int
	MaxWait time.Duration
	Window  time.Duration
	// CPU is the shipper's user+system time over Window, summed over its
	// threads from /proc/<pid>/task/*/schedstat (nanoseconds); Ticks the
	// same from /proc/<pid>/stat (10 ms ticks).
	CPU, Ticks time.Duration
	// Wakeups are its threads' context switches (voluntary+involuntary)
	// over Window: each is a thread going to sleep or being preempted, so
	// roughly the times it woke up.
	Wakeups  int64
	Threads  int
	RSS, HWM int64   // bytes: resident now, and the peak so far (VmHWM)
	Requests int64   // requests the receiver indexed from this host in Window
	Busy     float64 // share of all CPUs busy over Window (everyone)
}

// PerMinute scales d over the window to one minute.
func (i *ShipIdle) PerMinute(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(time.Minute) / float64(i.Window))
}

// ShipDelay is one delay run.
type ShipDelay struct {
	MaxWait time.Duration
	Every   time.Duration
	Sources int
	Delays  []time.Duration // sorted, one per acknowledged line
	Lost    int             // lines not acknowledged within MaxWait+30s
	PUTs    int64           // PUTs of the measured stream in the run
	// HeadRTT is the median HEAD round trip: with Poll it bounds how late
	// an acknowledgement is seen.
	HeadRTT time.Duration
	// HeadMax is the slowest HEAD: every request waits for a group commit
	// (fdatasync) on the receiver, so a slow one shows the disk stalling.
	HeadMax time.Duration
	Poll    time.Duration
	Shipper ProcUsage // this shipper over its life (catch-up, idle, run)
}

// Percentile of the sorted delays (nearest rank).
func (d *ShipDelay) Percentile(p float64) time.Duration {
	if len(d.Delays) == 0 {
		return 0
	}
	return percentile(d.Delays, p)
}

// ShipReport is everything `bench ship` measured.
type ShipReport struct {
	Machine    string
	Dir        string
	Throughput []*ShipThroughput
	Idle       *ShipIdle
	Delays     []*ShipDelay
	// Verified is how many streams were read back and found equal to
	// their files; -1 when not asked, 0 when a failure came first.
	Verified int
	PeakRSS  int64 // the highest peak RSS of any shipper run, bytes
}

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

// RunShip measures the shipper: see ShipOptions.
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

// writeCreds writes the host's bundle as `cis490 ca issue --host` would.
func (r *shipRig) writeCreds() error {
	h := r.t.Hosts[0]
	dir := filepath.Join(r.dir, "host")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"host.crt": h.CertPEM, "host.key": h.KeyPEM, "ca.crt": r.t.CAPEM, "token": []byte(h.Token + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes a lab-host.toml for a shipper run and returns its
// path. State lives in state-<name>, so runs of one name resume.
func (r *shipRig) writeConfig(name string, sources []string, maxWait time.Duration) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# made by cis490 bench ship\nreceiver = %q\nhost = %q\nstate_dir = %q\n\n",
		"https://"+r.t.Addr, r.t.Hosts[0].Name, "state-"+name)
	fmt.Fprintf(&b, "[tls]\ncert = \"host/host.crt\"\nkey = \"host/host.key\"\nca = \"host/ca.crt\"\ntoken_file = \"host/token\"\n\n")
	fmt.Fprintf(&b, "[batch]\nmax_bytes = \"1MiB\"\nmax_wait = %q\n", durationTOML(maxWait))
	for _, s := range sources {
		fmt.Fprintf(&b, "\n[[source]]\npath = %q\n", s)
	}
	path := filepath.Join(r.dir, name+".toml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// durationTOML writes d the way lab-host.toml reads it.
func durationTOML(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// startShipper starts `cis490 ship --config conf`, its output in a log file
// beside the config.
func (r *shipRig) startShipper(conf string) (*proc, error) {
	argv := append(r.argv[:len(r.argv):len(r.argv)], "ship", "--config", conf)
	p, err := startProc(argv, r.o.Env, strings.TrimSuffix(conf, ".toml")+".log")
	if err != nil {
		return nil, err
	}
	r.progress("shipper pid %d: %s", p.pid(), conf)
	return p, nil
}

// throughput ships Size bytes: a backlog in one file written before the
// shipper starts ("backlog"), lines written to one file while it runs
// ("growing"), or a backlog spread over Sources files ("spread"). It
// returns the figures and the files by stream.
func (r *shipRig) throughput(ctx context.Context, name string) (*ShipThroughput, map[string]string, error) {
	growing := name == "growing"
	nfiles := 1
	if name == "spread" {
		nfiles = r.o.Sources
	}
	res := &ShipThroughput{Name: name, Bytes: r.o.Size, Files: nfiles, MaxWait: DefaultMaxWait, Statuses: map[int]int64{}}
	dir := filepath.Join(r.dir, "files", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	files := map[string]string{} // stream -> path
	var paths []string
	sizes := map[string]int64{}
	for i := range nfiles {
		base := name + ".log"
		if nfiles > 1 {
			base = fmt.Sprintf("%s-%02d.log", name, i)
		}
		path := filepath.Join(dir, base)
		// Whole MiB per file where the size allows (batch.max_bytes is
		// 1 MiB): a last batch of less would wait max_wait, which is not
		// throughput. The last file takes the rest.
		per := r.o.Size / int64(nfiles)
		if per >= 1<<20 {
			per &^= 1<<20 - 1
		}
		files[base], sizes[base] = path, per
		if i == nfiles-1 {
			sizes[base] = r.o.Size - per*int64(nfiles-1)
		}
		paths = append(paths, path)
	}
	lm := NewLineMaker(1, "lab-pc-07")
	if !growing {
		r.progress("%s: writing %s of lines to %d file(s) in %s", name, sizeText(r.o.Size), nfiles, dir)
		for stream, path := range files {
			f, err := os.Create(path)
			if err != nil {
				return nil, nil, err
			}
			n, err := lm.WriteLines(f, sizes[stream], 1<<20)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, nil, err
			}
			res.Lines += n
		}
	}
	conf, err := r.writeConfig(name, paths, res.MaxWait)
	if err != nil {
		return nil, nil, err
	}
	// Flush dirty pages (the backlog just written, earlier runs' data) now,
	// not inside the measured window.
	syscall.Sync()
	if err := r.markIndex(); err != nil {
		return nil, nil, err
	}
	s0 := sampleCPU(r.t.PID)
	start := time.Now()
	p, err := r.startShipper(conf)
	if err != nil {
		return nil, nil, err
	}
	defer p.kill()
	res.Log = p.log
	stopProfile := r.profile(p, name)
	type written struct {
		lines int64
		at    time.Time
		err   error
	}
	wrote := make(chan written, 1)
	if growing {
		r.progress("growing: writing %s of lines in %d-byte writes while the shipper runs", sizeText(r.o.Size), r.o.GrowChunk)
		res.Chunk = r.o.GrowChunk
		f, err := os.Create(paths[0])
		if err != nil {
			return nil, nil, err
		}
		go func() {
			n, err := lm.WriteLines(f, r.o.Size, r.o.GrowChunk)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			wrote <- written{n, time.Now(), err}
		}()
	}
	var at time.Time
	for stream := range files {
		if at, err = r.waitLength(ctx, p, stream, sizes[stream], 20*time.Millisecond); err != nil {
			break
		}
	}
	s1 := sampleCPU(r.t.PID)
	stopProfile()
	usage, serr := p.stop()
	res.Shipper = usage
	if err != nil {
		return res, files, fmt.Errorf("%s: %w", name, err)
	}
	if serr != nil {
		return res, files, fmt.Errorf("%s: %w", name, serr)
	}
	if growing {
		w := <-wrote
		if w.err != nil {
			return res, files, w.err
		}
		res.Lines, res.WriteTime, res.Tail = w.lines, w.at.Sub(start), at.Sub(w.at)
	}
	res.Elapsed = at.Sub(start)
	res.Receiver = s1.proc - s0.proc
	res.Bench = s1.self - s0.self
	if total := s1.total - s0.total; total > 0 {
		res.Busy = float64(s1.busy-s0.busy) / float64(total)
	}
	// The shipper's rusage runs to its exit, a moment after `at`.
	res.Others = max(0, time.Duration(s1.busy-s0.busy)*tick-res.Receiver-res.Bench-res.Shipper.CPU())
	if err := r.countIndex(func(l index.Line) {
		if _, ours := files[l.Stream]; ours && l.Method == http.MethodPut && l.Endpoint == "logs" {
			res.PUTs++
			res.Statuses[l.Status]++
		}
	}); err != nil {
		return res, files, err
	}
	r.progress("%s: %s", name, FormatThroughputLine(res))
	return res, files, nil
}

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

// delay appends DelaySamples lines to path, one every DelayEvery, and
// polls the receiver's length (HEAD, one after another with Poll between)
// to see when each is covered.
func (r *shipRig) delay(ctx context.Context, p *proc, path string, w time.Duration, sources int) (*ShipDelay, error) {
	o := r.o
	stream := filepath.Base(path)
	d := &ShipDelay{MaxWait: w, Every: o.DelayEvery, Sources: sources, Poll: o.Poll}
	r.progress("delay: %d lines, one every %s, batch.max_wait %s", o.DelaySamples, o.DelayEvery, w)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := r.markIndex(); err != nil {
		return nil, err
	}
	type sample struct {
		end int64
		at  time.Time
	}
	samples := make(chan sample, o.DelaySamples)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	werr := make(chan error, 1)
	go func() {
		defer close(samples)
		lm := NewLineMaker(uint64(time.Now().UnixNano()), "lab-pc-07")
		end := st.Size()
		tk := time.NewTicker(o.DelayEvery)
		defer tk.Stop()
		for range o.DelaySamples {
			line := lm.Line(0)
			if _, err := f.Write(line); err != nil {
				werr <- fmt.Errorf("delay: append to %s: %w", path, err)
				return
			}
			at := time.Now()
			end += int64(len(line))
			samples <- sample{end, at}
			select {
			case <-tk.C:
			case <-wctx.Done():
				return
			}
		}
	}()
	var waiting []sample
	var rtts []time.Duration
	var lastWrite time.Time
	open := true
	for open || len(waiting) > 0 {
		if !p.running() {
			_, err := p.stop()
			return nil, fmt.Errorf("delay: the shipper exited: %w", err)
		}
		if !open && time.Since(lastWrite) > w+30*time.Second {
			d.Lost = len(waiting)
			break
		}
		t0 := time.Now()
		length, err := r.host.length(ctx, r.t.Hosts[0].Name, stream)
		now := time.Now()
		if err != nil {
			return nil, fmt.Errorf("delay: %w", err)
		}
		rtts = append(rtts, now.Sub(t0))
		// Only lines whose write had returned when this answer came count
		// against it.
	drain:
		for open {
			select {
			case s, ok := <-samples:
				if !ok {
					open = false
					break drain
				}
				waiting = append(waiting, s)
				lastWrite = s.at
			default:
				break drain
			}
		}
		for len(waiting) > 0 && waiting[0].end <= length {
			d.Delays = append(d.Delays, max(0, now.Sub(waiting[0].at)))
			waiting = waiting[1:]
		}
		if err := sleepCtx(ctx, o.Poll); err != nil {
			return nil, err
		}
	}
	select {
	case err := <-werr:
		return nil, err
	default:
	}
	slices.Sort(d.Delays)
	slices.Sort(rtts)
	if len(rtts) > 0 {
		d.HeadRTT, d.HeadMax = rtts[len(rtts)/2], rtts[len(rtts)-1]
	}
	if err := r.countIndex(func(l index.Line) {
		if l.Method == http.MethodPut && l.Stream == stream {
			d.PUTs++
		}
	}); err != nil {
		return nil, err
	}
	if d.Lost > 0 {
		return d, fmt.Errorf("delay: %d of %d lines never reached the receiver within max_wait+30s; see %s", d.Lost, o.DelaySamples, p.log)
	}
	return d, nil
}

// waitLength polls the receiver (HEAD, every `every`) until stream holds
// want bytes, and returns when it saw that. It gives up when the shipper
// exits, or when the length stops growing for a minute.
func (r *shipRig) waitLength(ctx context.Context, p *proc, stream string, want int64, every time.Duration) (time.Time, error) {
	var last int64 = -1
	moved := time.Now()
	for {
		n, err := r.host.length(ctx, r.t.Hosts[0].Name, stream)
		now := time.Now()
		if err != nil {
			return now, err
		}
		if n >= want {
			if n > want {
				return now, fmt.Errorf("stream %s holds %d bytes, more than the %d written", stream, n, want)
			}
			return now, nil
		}
		if n != last {
			last, moved = n, now
		} else if now.Sub(moved) > time.Minute {
			return now, fmt.Errorf("stream %s stuck at %d of %d bytes for a minute; see %s", stream, n, want, p.log)
		}
		if !p.running() {
			_, err := p.stop()
			return now, fmt.Errorf("the shipper exited with stream %s at %d of %d bytes: %v", stream, n, want, err)
		}
		if err := sleepCtx(ctx, every); err != nil {
			return now, err
		}
	}
}

// profile starts perf record on the shipper when Options.Profile asks for
// it; what it returns stops it.
func (r *shipRig) profile(p *proc, name string) (stop func()) {
	if r.o.Profile == "" {
		return func() {}
	}
	out := filepath.Join(r.o.Profile, "ship-"+name+".perf.data")
	end, err := Profile(p.pid(), out)
	if err != nil {
		r.progress("profile %s: %v", name, err)
		return func() {}
	}
	return func() {
		if err := end(); err != nil {
			r.progress("profile %s: %v", name, err)
		} else {
			r.progress("profile: %s", out)
		}
	}
}

// markIndex remembers where the receiver's index ends, for countIndex.
func (r *shipRig) markIndex() error {
	cp, _, err := index.Dir{Path: r.ixDir}.Read(context.Background(), r.ixCP, time.Time{}, time.Time{}, func(*index.Line) {})
	if err != nil {
		return fmt.Errorf("read the receiver's index: %w", err)
	}
	r.ixCP = cp
	return nil
}

// countIndex hands fn every index line since markIndex.
func (r *shipRig) countIndex(fn func(index.Line)) error {
	cp, _, err := index.Dir{Path: r.ixDir}.Read(context.Background(), r.ixCP, time.Time{}, time.Time{}, func(l *index.Line) { fn(*l) })
	if err != nil {
		return fmt.Errorf("read the receiver's index: %w", err)
	}
	r.ixCP = cp
	return nil
}

// verify reads the stream back as an admin and compares it with the file.
func (r *shipRig) verify(ctx context.Context, stream, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	length, err := r.admin.length(ctx, r.t.Hosts[0].Name, stream)
	if err != nil {
		return err
	}
	if length != st.Size() {
		return fmt.Errorf("verify: stream %s holds %d bytes, its file %d", stream, length, st.Size())
	}
	want := make([]byte, 8<<20)
	for off := int64(0); off < length; {
		got, err := r.admin.read(ctx, r.t.Hosts[0].Name, stream, off, len(want))
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if len(got) == 0 {
			return fmt.Errorf("verify: stream %s: no bytes at offset %d of %d", stream, off, length)
		}
		n, err := f.ReadAt(want[:len(got)], off)
		if err != nil && !(errors.Is(err, io.EOF) && n == len(got)) {
			return fmt.Errorf("verify: %w", err)
		}
		if i := firstDiff(got, want[:n]); i >= 0 {
			return fmt.Errorf("verify: stream %s differs from %s at byte %d", stream, path, off+int64(i))
		}
		off += int64(len(got))
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// apiClient asks the receiver about streams, over one keep-alive mutual
// TLS connection, with one host's or admin's credentials.
type apiClient struct {
	c    *http.Client
	base string
	tok  string
}

func newAPIClient(t *Target, h Host) *apiClient {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{h.Cert}, RootCAs: t.RootCAs,
			ServerName: t.ServerName, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &apiClient{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, base: "https://" + t.Addr, tok: h.Token}
}

func (a *apiClient) close() { a.c.CloseIdleConnections() }

func (a *apiClient) do(ctx context.Context, method, host, stream, query string) (*http.Response, error) {
	u := a.base + wire.LogsPath(host, stream)
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.tok)
	req.Header.Set("User-Agent", "cis490-bench")
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", method, host, stream, err)
	}
	return resp, nil
}

// length is the stream's length (HEAD); 0 for a stream not there yet.
func (a *apiClient) length(ctx context.Context, host, stream string) (int64, error) {
	resp, err := a.do(ctx, http.MethodHead, host, stream, "")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return 0, nil
	case http.StatusOK:
	default:
		return 0, fmt.Errorf("HEAD %s/%s: %s", host, stream, resp.Status)
	}
	n, err := strconv.ParseInt(resp.Header.Get(wire.HeaderLength), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("HEAD %s/%s: %s %q: %w", host, stream, wire.HeaderLength, resp.Header.Get(wire.HeaderLength), err)
	}
	return n, nil
}

// read returns up to limit stored bytes from offset (GET, admins only).
func (a *apiClient) read(ctx context.Context, host, stream string, offset int64, limit int) ([]byte, error) {
	resp, err := a.do(ctx, http.MethodGet, host, stream, fmt.Sprintf("%s=%d&%s=%d", wire.QueryOffset, offset, wire.QueryLimit, limit))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s/%s: %w", host, stream, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/%s: %s %s", host, stream, resp.Status, clipBytes(b, 200))
	}
	if got := resp.Header.Get(wire.HeaderOffset); got != strconv.FormatInt(offset, 10) {
		return nil, fmt.Errorf("GET %s/%s at %d: the bytes begin at %s", host, stream, offset, got)
	}
	return b, nil
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.TrimSpace(string(b))
}

// proc is a child process whose resource usage is its own.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	werr error
	log  string
}

func startProc(argv, env []string, log string) (*proc, error) {
	logf, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive bench
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: log}
	go func() {
		p.werr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits for the exit (killing it after 15 s) and
// returns what it used. Exiting with a status other than 0 is an error.
func (p *proc) stop() (ProcUsage, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-p.done:
		err = p.werr
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		err = errors.New("it did not stop within 15s of SIGTERM and was killed")
	}
	u := usageOf(p.cmd.ProcessState)
	if err != nil {
		return u, fmt.Errorf("shipper pid %d: %w; its log: %s", p.pid(), err, tail(p.log))
	}
	return u, nil
}

// kill ends the process if it still runs (a run that failed half way).
func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func usageOf(ps *os.ProcessState) ProcUsage {
	if ps == nil {
		return ProcUsage{}
	}
	u := ProcUsage{User: ps.UserTime(), Sys: ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSS = int64(ru.Maxrss) * 1024 // KiB on Linux; the fields are int32 on 32-bit ARM
		u.Vcsw, u.Nivcsw = int64(ru.Nvcsw), int64(ru.Nivcsw)
	}
	return u
}

// threadSample sums a process's threads.
type threadSample struct {
	cpu      time.Duration // on-CPU time, /proc/<pid>/task/<tid>/schedstat
	switches int64         // voluntary + involuntary context switches
	threads  int
}

func threadUsage(pid int) threadSample {
	var s threadSample
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return s
	}
	for _, e := range ents {
		s.threads++
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				s.cpu += time.Duration(ns)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "status")); err == nil {
			s.switches += statusField(string(b), "voluntary_ctxt_switches") + statusField(string(b), "nonvoluntary_ctxt_switches")
		}
	}
	return s
}

// memUsage is the resident set now and its peak, in bytes.
func memUsage(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	return statusField(string(b), "VmRSS") * 1024, statusField(string(b), "VmHWM") * 1024
}

// statusField reads "Key:  N [kB]" from a /proc status file.
func statusField(status, key string) int64 {
	for line := range strings.Lines(status) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}

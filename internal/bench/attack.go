package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// AttackOptions say what `cis490 bench attack` runs: a baseline, each
// attack in turn and the baseline again, every one on a fresh receiver
// with its default limits, while honest hosts ship.
type AttackOptions struct {
	Attacks []string // names from AttackNames, run in this order
	// Hosts is the honest hosts bench-0 … bench-<Hosts-1>; the attacker
	// is bench-<Hosts>, a host of the same fleet with its own credentials.
	Hosts int
	Size  int           // honest body bytes per PUT
	Think time.Duration // each honest host's pause between an answer and its next PUT
	// Duration is each attack's, and the honest hosts' measured window
	// around it.
	Duration time.Duration
	// Warmup is honest load before the window: every honest host holds its
	// keep-alive connection before the attacker starts, as a lab's
	// shippers would.
	Warmup time.Duration
	// Settle is the pause after the window before the receiver's threads
	// and disk are read again.
	Settle    time.Duration
	WaitQuiet time.Duration // before each phase, wait up to this long for idle CPUs; 0 skips
	Dir       string        // parent of the temporary folders; "" for os.TempDir()
	Keep      bool          // keep the temporary folders
	// Nice is the attacker child's CPU priority (nice -n; 0: the bench's
	// own), see attackproc.go.
	Nice int
	// Command runs this executable, for the receiver and the attacker
	// (default: os.Executable); Env is more environment for both (a test
	// runs itself).
	Command, Env []string
	// Out gets one line per phase as it ends, Progress warnings; either
	// may be nil.
	Out, Progress io.Writer
}

// AttackPhase is one receiver's figures: the honest hosts' run, what the
// attacker got, and the receiver's memory, threads and disk.
type AttackPhase struct {
	Name string // "baseline", an attack's name, or "baseline again"
	// Honest is the honest hosts' run over the window.
	Honest *Result
	// Attacker counts what the attacker's requests and connections came
	// to: a status, or what became of a connection (attack.go's keys).
	Attacker map[string]int64
	// AttackerPeak is the most connections the attacker held open at once.
	AttackerPeak int64
	// AttackerCPU is the attacker child's user+system CPU time.
	AttackerCPU time.Duration
	// Enrolls are honest enrollments made while the attack ran (renew
	// only), nil otherwise.
	Enrolls *Enrolls
	Err     error // the attack could not run as meant (set-up failed)

	RSSStart int64 // VmRSS at the window's start
	RSSPeak  int64 // VmHWM after the window: the most the receiver ever held
	// Threads at the window's start, the most seen (sampled every 100 ms)
	// and after Settle.
	ThreadsStart, ThreadsPeak, ThreadsAfter int
	// DiskBefore and DiskAfter are the data folder's allocated bytes (as
	// du counts them) at the window's start and after Settle.
	DiskBefore, DiskAfter int64
}

// DiskGrowth is what the data folder grew by over the phase.
func (p *AttackPhase) DiskGrowth() int64 { return p.DiskAfter - p.DiskBefore }

// Enrolls are the honest enrollments' outcomes and latencies.
type Enrolls struct {
	OK       int64
	Errors   int64
	FirstErr string
	P50, Max time.Duration
}

// AttackReport is every phase: Phases[0] is the baseline, then the
// attacks, then the baseline again (drift over the invocation).
type AttackReport struct {
	Options AttackOptions
	Phases  []*AttackPhase
}

// Goals from the issue: honest hosts keep this share of the baseline's
// throughput and get no error, and the receiver's memory, threads and
// disk stay within these bounds of the baseline's.
const (
	AttackThroughputGoal = 0.9
	// AttackRSSBound is the peak RSS an attack may add: limits.max_inflight
	// (64 MiB), the bodies the receiver is meant to hold at most.
	AttackRSSBound = 64 << 20
	// AttackThreadBound is the threads an attack may add at its peak: a
	// connection or a stalled request costs a goroutine, never a thread, so
	// anything beyond the runtime's few spare threads is a leak.
	AttackThreadBound = 8
	// AttackDiskBound is the disk an attack may add beyond what the honest
	// hosts' acknowledged appends cost at the baseline's rate: the index
	// lines a few folded refusals and an attacker's own appends take.
	AttackDiskBound = 1 << 20
)

// RunAttack runs the baseline, the attacks and the baseline again. It is
// bounded in time whatever happens.
func RunAttack(ctx context.Context, o AttackOptions) (*AttackReport, error) {
	var attacks []*attack
	for _, name := range o.Attacks {
		a := findAttack(name)
		if a == nil {
			return nil, fmt.Errorf("bench: no attack %q (there are %v)", name, AttackNames())
		}
		attacks = append(attacks, a)
	}
	if o.Hosts < 1 || o.Size < 1 || o.Duration <= 0 {
		return nil, errors.New("bench: give at least one honest host, a body size and a duration")
	}
	if len(o.Command) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the cis490 executable: %w", err)
		}
		o.Command = []string{self}
	}
	out, warn := orDiscard(o.Out), orDiscard(o.Progress)
	phases := append(append([]*attack{nil}, attacks...), nil)
	per := o.WaitQuiet + o.Warmup + o.Duration + o.Settle + 45*time.Second
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(phases))*per+time.Minute)
	defer cancel()

	parent, done, err := parentFolder(o.Dir, "cis490-attack-", o.Keep, warn)
	if err != nil {
		return nil, err
	}
	defer done()
	fmt.Fprintf(out, "cis490 bench attack: %d honest hosts, %s PUTs, %s think time, %s per attack after %s warm-up\n",
		o.Hosts, SizeName(o.Size), o.Think, o.Duration, o.Warmup)
	fmt.Fprintf(out, "machine: %s\n\n", Machine(parent))
	rep := &AttackReport{Options: o}
	for i, a := range phases {
		name := "baseline"
		switch {
		case a != nil:
			name = a.name
		case i > 0:
			name = "baseline again"
		}
		ph, err := attackPhase(ctx, o, parent, name, a, warn)
		if err != nil {
			return rep, err
		}
		rep.Phases = append(rep.Phases, ph)
		fmt.Fprintln(out, FormatPhaseLine(ph))
	}
	return rep, nil
}

// attackPhase starts a fresh receiver, lets the honest hosts connect and
// ship, runs a (nil: none) over the measured window and reads the
// receiver's figures.
func attackPhase(ctx context.Context, o AttackOptions, parent, name string, a *attack, warn io.Writer) (_ *AttackPhase, err error) {
	syscall.Sync() // the last phase's dirty pages are not this one's
	if o.WaitQuiet > 0 {
		if b := WaitQuiet(ctx, 0.2, o.WaitQuiet); b >= 0.2 {
			fmt.Fprintf(warn, "cis490 bench attack: the CPUs are %.0f%% busy before %s (other processes); its figures are skewed\n", 100*b, name)
		}
	}
	t, err := PrepareCis490(Options{Hosts: o.Hosts + 1, Dir: parent, Keep: o.Keep, Command: o.Command, Env: o.Env, DefaultLimits: true})
	if err != nil {
		return nil, fmt.Errorf("%s: prepare the receiver: %w", name, err)
	}
	rig := &attackRig{t: t, attacker: t.Hosts[o.Hosts]}
	if a != nil && a.prepare != nil {
		if err := a.prepare(rig); err != nil {
			os.RemoveAll(t.Dir)
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := t.Launch(ctx, defaultWait); err != nil {
		return nil, fmt.Errorf("%s: start the receiver: %w", name, err)
	}
	defer func() {
		if cerr := t.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: stop the receiver: %w", name, cerr)
		}
	}()

	ph := &AttackPhase{Name: name}
	load := Load{Hosts: o.Hosts, Size: o.Size, Duration: o.Duration, Warmup: o.Warmup, Think: o.Think,
		During: func(pid int, d time.Duration) func() {
			ph.DiskBefore = diskUsage(t.Data)
			ph.RSSStart, _ = memUsage(pid)
			ph.ThreadsStart = procThreads(pid)
			stopSampling := sampleThreads(pid, 100*time.Millisecond)
			var child *attackerProc
			if a != nil {
				child, ph.Err = startAttacker(o, t, rig, a, d)
			}
			return func() {
				if child != nil {
					child.wait(ctx, ph)
				}
				ph.ThreadsPeak = stopSampling()
			}
		}}
	if ph.Honest, err = Run(ctx, t, load); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		return nil, err
	}
	ph.ThreadsAfter = procThreads(t.PID)
	ph.ThreadsPeak = max(ph.ThreadsPeak, ph.ThreadsStart, ph.ThreadsAfter)
	_, ph.RSSPeak = memUsage(t.PID)
	ph.DiskAfter = diskUsage(t.Data)
	return ph, nil
}

// procThreads is the Threads: line of /proc/<pid>/status.
func procThreads(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return int(statusField(string(b), "Threads"))
}

// sampleThreads reads pid's thread count every interval until the
// returned function is called, which returns the most it saw.
func sampleThreads(pid int, every time.Duration) (stop func() int) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	most := 0
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			most = max(most, procThreads(pid))
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	})
	return func() int {
		close(quit)
		wg.Wait()
		return most
	}
}

// diskUsage is the bytes allocated to the files under dir, as du counts
// them (blocks, not lengths: a folded index line and a sparse segment cost
// what they take on disk).
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed while walking (a compaction) is not an error here
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}

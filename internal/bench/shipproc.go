package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process whose resource usage is its own.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	werr error
	log  string
	// The peaks of RssAnon and RssFile, sampled every 10 ms until exit:
	// what the process allocated, apart from its executable's pages that
	// the kernel maps (64 KiB around each fault) from the page cache.
	peakAnon, peakFile int64
	sampled            chan struct{}
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
	p := &proc{cmd: cmd, done: make(chan struct{}), log: log, sampled: make(chan struct{})}
	go func() {
		p.werr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	go p.sampleMemory()
	return p, nil
}

// sampleMemory keeps the peaks of the process's anonymous and file-backed
// resident memory until it exits.
func (p *proc) sampleMemory() {
	defer close(p.sampled)
	status := fmt.Sprintf("/proc/%d/status", p.pid())
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(status); err == nil {
			p.peakAnon = max(p.peakAnon, statusField(string(b), "RssAnon")*1024)
			p.peakFile = max(p.peakFile, statusField(string(b), "RssFile")*1024)
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
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
	<-p.sampled
	u.PeakAnon, u.PeakFile = p.peakAnon, p.peakFile
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

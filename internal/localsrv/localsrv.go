// Package localsrv runs throwaway PostgreSQL (Debian's binaries) and S3
// (versitygw) servers on loopback ports, each in a folder of its own: the
// storage tests (through internal/testenv) and the load benchmark
// (internal/bench) start them the same way. Every server is a child in its
// own process group that dies with its parent.
package localsrv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Nobody is the uid and gid the servers run as when the caller is root:
// initdb and postgres refuse to run as root.
const Nobody = 65534

// freePort returns a loopback port that was free a moment ago: the
// server may still lose it to another process, so callers retry.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is a server run as a child, in its own process group so that a
// kill takes its workers too.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child is reaped
}

// startProc starts cmd with its output appended to logPath. The child is
// killed if the parent dies (Pdeathsig), so a panicking or timed-out test
// or bench leaves no server behind; Go sets it after the credentials
// change, which would clear it (why this is not setpriv).
func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the server and waits up to wait for it to exit, then
// kills its whole group.
func (p *proc) stop(sig syscall.Signal, wait time.Duration) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
	}
	p.kill()
}

// kill is kill -9 of the server and every process in its group, as a
// crash takes them; it returns once the server is reaped.
func (p *proc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// waitReady polls ready every 10 ms until it says yes, the server exits
// or timeout passes.
func waitReady(p *proc, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		if p.exited() {
			return errors.New("exited while starting")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// dialable reports whether something accepts connections on port.
func dialable(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tail returns the last lines of a log, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// waitGroupGone waits up to 5 s until no live process is left in process
// group pgid: a restart while a killed backend still holds the shared
// memory would be refused. Zombies do not count, as the init may never
// reap them.
func waitGroupGone(pgid int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !groupAlive(pgid) {
			return
		}
	}
}

func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

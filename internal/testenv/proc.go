package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
)

// shared holds the servers one test binary shares. It is global because
// a server is started on a test's first use and outlives that test;
// the mutex serialises starting and stopping them between parallel tests.
var shared struct {
	mu     sync.Mutex
	pg     *PG
	pgErr  error // a failed start is not retried by every later test
	s3     *S3Proc
	s3Err  error
	vgw    string // the versitygw binary, built once
	vgwDir string
	vgwErr error
	seq    int // names databases and buckets apart
}

// StopShared stops the servers Postgres and S3Server started and removes
// their files. A package that uses them calls it from TestMain after
// m.Run: a test's cleanup cannot, as the servers outlive every test.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg != nil {
		shared.pg.destroy()
		shared.pg = nil
	}
	if shared.s3 != nil {
		shared.s3.destroy()
		shared.s3 = nil
	}
	if shared.vgwDir != "" {
		os.RemoveAll(shared.vgwDir)
		shared.vgwDir, shared.vgw = "", ""
	}
	shared.pgErr, shared.s3Err, shared.vgwErr = nil, nil, nil
}

// nextName returns a name unique in this test binary, made of prefix,
// a number and what fits of the test's name in lowercase letters, digits
// and dashes (valid for both a database and a bucket).
func nextName(prefix, test string) string {
	shared.mu.Lock()
	shared.seq++
	n := shared.seq
	shared.mu.Unlock()
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	name := fmt.Sprintf("%s%d-%s", prefix, n, b.String())
	if len(name) > 60 {
		name = name[:60]
	}
	return strings.TrimRight(name, "-")
}

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

// proc is a server the tests run as a child, in its own process group so
// that a kill takes its workers too.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child is reaped
}

// startProc starts cmd with its output appended to logPath. The child is
// killed if the test binary dies (Pdeathsig), so a panicking or timed-out
// test leaves no server behind; Go sets it after the credentials change,
// which would clear it (why this is not setpriv).
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

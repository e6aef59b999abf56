package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Linux perf, when installed, counts the server's syncs (how well the group
// commit batches) and samples where its CPU goes. Both attach to a running
// process for the measured window only.

// PerfAvailable reports whether perf can be run.
func PerfAvailable() bool {
	_, err := exec.LookPath("perf")
	return err == nil
}

// perfRun starts perf with args and returns a function that stops it with
// SIGINT (perf then writes its output) and waits.
func perfRun(args ...string) (func() error, error) {
	cmd := exec.Command("perf", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &ee) && (!ee.Exited() || ee.ExitCode() == 130): // ended by SIGINT
				return nil
			}
			return fmt.Errorf("perf %s: %v: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("perf %s did not stop", args[0])
		}
	}, nil
}

// pidList is pid and its descendants, for perf -p.
func pidList(pid int) string {
	var b strings.Builder
	for i, p := range TreePIDs(pid) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p))
	}
	return b.String()
}

// SyncCounter counts fsync and fdatasync calls of pid and its descendants
// (all their threads) until the returned function is called, which returns the counts.
func SyncCounter(pid int, dir string) (func() (fdatasync, fsync int64, err error), error) {
	f, err := os.CreateTemp(dir, "perf-stat-*.csv")
	if err != nil {
		return nil, err
	}
	out := f.Name()
	f.Close()
	stop, err := perfRun("stat", "-x,", "-o", out, "-e", "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync", "-p", pidList(pid))
	if err != nil {
		os.Remove(out)
		return nil, err
	}
	return func() (int64, int64, error) {
		defer os.Remove(out)
		if err := stop(); err != nil {
			return 0, 0, err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return 0, 0, err
		}
		var fds, fs int64 = -1, -1
		for line := range strings.Lines(string(b)) {
			f := strings.Split(line, ",")
			if len(f) < 3 {
				continue
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if f[0] == "<not counted>" { // the process never ran a syscall
				n, err = 0, nil
			}
			if err != nil {
				continue
			}
			switch f[2] {
			case "syscalls:sys_enter_fdatasync":
				fds = n
			case "syscalls:sys_enter_fsync":
				fs = n
			}
		}
		if fds < 0 || fs < 0 {
			return 0, 0, fmt.Errorf("perf stat gave no sync counts: %s", b)
		}
		return fds, fs, nil
	}, nil
}

// Profile samples the stacks of pid and its descendants into out (perf.data format) until the returned
// function is called. Read it with `perf report -i out`.
func Profile(pid int, out string) (func() error, error) {
	return perfRun("record", "-q", "-F", "499", "-g", "-o", out, "-p", pidList(pid))
}

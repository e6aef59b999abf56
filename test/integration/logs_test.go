package integration

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogsCommand: `cis490 logs` against the real receiver lists a host's
// streams, prints a stream whole, from an offset, or from a time (--since,
// by when the receiver stored each batch), and follows it like tail -f
// until interrupted.
func TestLogsCommand(t *testing.T) {
	f := newFleet(t, []string{"lab-1"}, true)
	f.rcv.Start()
	admin := []string{"--admin", filepath.Join(f.dir, "bundles", "admin"), "--receiver", f.rcv.URL()}
	put := func(off int64, s string) int64 {
		t.Helper()
		if r := f.hosts["lab-1"].do(http.MethodPut, "lab-1", "syslog", "offset="+itoa(off), strings.NewReader(s), int64(len(s))); r.status != 201 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		return off + int64(len(s))
	}
	early := "08:00 early line\n"
	off := put(0, early)
	time.Sleep(1500 * time.Millisecond)
	mark := time.Now().UTC()
	late := "08:01 late line\n"
	off = put(off, late)

	if out := runCLI(t, append([]string{"logs", "lab-1"}, admin...)...); !strings.Contains(out, "syslog") || !strings.Contains(out, itoa(off)) {
		t.Fatalf("the stream list:\n%s", out)
	}
	if out := runCLI(t, append([]string{"logs", "lab-1", "syslog"}, admin...)...); out != early+late {
		t.Fatalf("the whole stream: %q", out)
	}
	if out := runCLI(t, append([]string{"logs", "lab-1", "syslog", "--offset", itoa(int64(len(early)))}, admin...)...); out != late {
		t.Fatalf("from an offset: %q", out)
	}
	if out := runCLI(t, append([]string{"logs", "lab-1", "syslog", "--since", "1s"}, admin...)...); out != late {
		t.Fatalf("--since 1s: %q", out)
	}
	if out := runCLI(t, append([]string{"logs", "lab-1", "syslog", "--since", mark.Add(-100 * time.Millisecond).Format(time.RFC3339Nano)}, admin...)...); out != late {
		t.Fatalf("--since a time: %q", out)
	}

	// --follow prints what arrives, and an interrupt ends it cleanly.
	fl := startFollow(t, append([]string{"logs", "lab-1", "syslog", "--since", "1s", "--follow", "--interval", "100ms"}, admin...)...)
	expect := fl.expect
	expect("08:01 late line")
	off = put(off, "08:02 followed\n")
	expect("08:02 followed")
	off = put(off, "08:03 and again\n")
	expect("08:03 and again")
	// A receiver restart does not end a follow.
	f.rcv.Kill()
	port := f.rcv.URL()
	f.rcv.Start()
	if f.rcv.URL() != port {
		t.Fatalf("the restarted receiver lost its port (%s, now %s) to another process: run the test again", port, f.rcv.URL())
	}
	put(off, "08:04 after a restart\n")
	expect("08:04 after a restart")
	fl.stop()

	// A stream that does not exist yet is waited for, like tail -F.
	later := startFollow(t, append([]string{"logs", "lab-1", "later", "--follow", "--interval", "100ms"}, admin...)...)
	later.waitStderr("does not exist yet")
	if r := f.hosts["lab-1"].do(http.MethodPut, "lab-1", "later", "offset=0", strings.NewReader("first\n"), 6); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	later.expect("first")
	later.stop()

	// A stream or host that is not there is named, with what there is.
	if out, err := exec.Command(binPath, append([]string{"logs", "lab-1", "nosuch"}, admin...)...).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), `lab-1 has no stream "nosuch"; it has later, syslog`) {
		t.Errorf("a stream that is not there: %v %s", err, out)
	}
	if out, err := exec.Command(binPath, append([]string{"logs", "lab-9", "syslog"}, admin...)...).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "lab-9 has stored no logs: is the host's name right?") {
		t.Errorf("a host that stored nothing: %v %s", err, out)
	}

	// A negative --since is a usage error.
	var ee *exec.ExitError
	if err := exec.Command(binPath, append([]string{"logs", "lab-1", "syslog", "--since", "-2h"}, admin...)...).Run(); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("--since -2h: %v; want exit 2", err)
	}

	// An offset past the end says so; a tight interval is refused.
	out, err := exec.Command(binPath, append([]string{"logs", "lab-1", "syslog", "--offset", "999999"}, admin...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("an offset past the end: %v %s", err, out)
	}
	if !strings.Contains(string(out), "past the stream's end") {
		t.Errorf("an offset past the end: %s", out)
	}
	if out, err := exec.Command(binPath, append([]string{"logs", "lab-1", "syslog", "--follow", "--interval", "0s"}, admin...)...).CombinedOutput(); err == nil || !strings.Contains(string(out), "at least 100ms") {
		t.Errorf("--interval 0s: %v %s", err, out)
	}

	// A host's own credentials, laid out as an admin bundle, are refused
	// by the receiver: a host reads no logs, not even its own.
	hostAsAdmin := t.TempDir()
	for from, to := range map[string]string{"host.crt": "admin.crt", "host.key": "admin.key", "ca.crt": "ca.crt", "token": "token"} {
		b, err := os.ReadFile(filepath.Join(f.dir, "bundles", "lab-1", from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(hostAsAdmin, to), b, 0o600)
	}
	out, err = exec.Command(binPath, "logs", "lab-1", "syslog", "--admin", hostAsAdmin, "--receiver", f.rcv.URL()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "for admins") || strings.Contains(string(out), "08:00") {
		t.Fatalf("a host's credentials reading logs: %v %s; want the receiver's 403 \"for admins\"", err, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// follower is a running `cis490 logs --follow` and the lines it printed.
type follower struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
}

func startFollow(t *testing.T, args ...string) *follower {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	stdout, _ := cmd.StdoutPipe()
	fl := &follower{t: t, cmd: cmd, lines: make(chan string, 10), stderr: &syncBuffer{}}
	cmd.Stderr = fl.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fl.lines <- sc.Text()
		}
		close(fl.lines)
	}()
	return fl
}

// expect waits for the next line printed, which must be want.
func (fl *follower) expect(want string) {
	fl.t.Helper()
	select {
	case got, open := <-fl.lines:
		if !open {
			fl.t.Fatalf("--follow ended before printing %q; stderr: %s", want, fl.stderr)
		}
		if got != want {
			fl.t.Fatalf("--follow printed %q; want %q; stderr: %s", got, want, fl.stderr)
		}
	case <-time.After(10 * time.Second):
		fl.t.Fatalf("--follow did not print %q; stderr: %s", want, fl.stderr)
	}
}

func (fl *follower) waitStderr(want string) {
	fl.t.Helper()
	for end := time.Now().Add(10 * time.Second); !strings.Contains(fl.stderr.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			fl.t.Fatalf("--follow never said %q; stderr: %s", want, fl.stderr)
		}
	}
}

// stop interrupts the follow, which must end cleanly.
func (fl *follower) stop() {
	fl.t.Helper()
	fl.cmd.Process.Signal(syscall.SIGINT)
	if err := fl.cmd.Wait(); err != nil {
		fl.t.Fatalf("--follow after an interrupt: %v; stderr: %s", err, fl.stderr)
	}
}

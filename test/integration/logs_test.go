package integration

import (
	"bufio"
	"bytes"
	"net/http"
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
	cmd := exec.Command(binPath, append([]string{"logs", "lab-1", "syslog", "--since", "1s", "--follow", "--interval", "100ms"}, admin...)...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got, open := <-lines:
			if !open {
				t.Fatalf("--follow ended before printing %q; stderr: %s", want, stderr.String())
			}
			if got != want {
				t.Fatalf("--follow printed %q; want %q; stderr: %s", got, want, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("--follow did not print %q; stderr: %s", want, stderr.String())
		}
	}
	expect("08:01 late line")
	off = put(off, "08:02 followed\n")
	expect("08:02 followed")
	off = put(off, "08:03 and again\n")
	expect("08:03 and again")
	// A receiver restart does not end a follow (the port stays the same
	// unless the test loses a bind race, which would make this wait).
	f.rcv.Kill()
	port := f.rcv.URL()
	f.rcv.Start()
	if f.rcv.URL() == port {
		put(off, "08:04 after a restart\n")
		expect("08:04 after a restart")
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("--follow after an interrupt: %v; stderr: %s", err, stderr.String())
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

	// A host's own bundle is not an admin's.
	out, err = exec.Command(binPath, "logs", "lab-1", "syslog", "--admin", filepath.Join(f.dir, "bundles", "lab-1"), "--receiver", f.rcv.URL()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "admin") {
		t.Fatalf("a host bundle reading logs: %v %s", err, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

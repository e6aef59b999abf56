package integration

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoStopsCleanlyOnCtrlC: the demo shows data from every simulated host
// and exits 0 on SIGINT, saying where the data is.
func TestDemoStopsCleanlyOnCtrlC(t *testing.T) {
	cmd := exec.Command(binPath, "demo", "--dir", t.TempDir())
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	hosts := []string{"lab-101", "lab-102", "lab-103", "lab-104", "lab-105", "lab-106"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := out.String()
		last := s
		if i := strings.LastIndex(s, "host     state"); i >= 0 {
			last = s[i:]
		}
		seen := 0
		for _, h := range hosts {
			for _, line := range strings.Split(last, "\n") {
				f := strings.Fields(line)
				// host, state, last seen ("1s ago"), streams; lab-104 runs
				// stale code: it heartbeats but ships nothing.
				if len(f) > 4 && f[0] == h && (f[4] != "0" || h == "lab-104") {
					seen++
					break
				}
			}
		}
		// lab-104's row carries the detector's verdict on its 426s.
		if seen == len(hosts) && strings.Contains(lineOf(last, "lab-104"), "sick") && strings.Contains(lineOf(last, "lab-104"), "stale-code: runs 000000000000") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not show data from every host in 30 s:\n%s\n%s", last, errb.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The dashboard it points to lets the printed token in.
	m := regexp.MustCompile(`dashboard on (https://\S+)/ui/ \(log in with the token in (\S+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the demo does not say where its dashboard is:\n%s", out.String())
	}
	tok, _ := os.ReadFile(m[2])
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the demo's own CA
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(m[1]+"/ui/login", url.Values{"token": {strings.TrimSpace(string(tok))}})
	if err != nil || resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("logging in to the demo's dashboard: %v %v", resp, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v after SIGINT:\n%s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20 s of SIGINT")
	}
	if !strings.Contains(out.String(), "stopped. data:") {
		t.Fatalf("the demo did not say where the data is:\n%s", out.String())
	}
	// Its last table, drawn after Ctrl-C, still says who is sick, and
	// stopping logged no error.
	s := out.String()
	last := s[strings.LastIndex(s, "host     state"):]
	if l := lineOf(last, "lab-104"); !strings.Contains(l, "sick") || !strings.Contains(l, "stale-code: runs 000000000000") {
		t.Errorf("the last table lost the detector's verdicts:\n%s", last)
	}
	if strings.Contains(errb.String(), "level=ERROR") {
		t.Errorf("stopping the demo logged an error:\n%s", errb.String())
	}
}

// lineOf is the first line of table that starts with host.
func lineOf(table, host string) string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == host {
			return line
		}
	}
	return ""
}

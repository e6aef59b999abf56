package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/receivertest"
)

// TestShipCommand runs `cis490 ship` against a real receiver until it is
// stopped, and checks the file arrived.
func TestShipCommand(t *testing.T) {
	r := receivertest.Start(t, nil)
	c := r.IssueHost("lab-9", time.Now(), time.Hour)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	os.WriteFile(logPath, []byte("hello from lab-9\n"), 0o644)
	cfg := filepath.Join(dir, "lab-host.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`receiver = %q
host = "lab-9"
state_dir = %q
[tls]
cert = %q
key = %q
ca = %q
token_file = %q
[batch]
max_wait = "100ms"
[[source]]
path = %q
`, r.URL, filepath.Join(dir, "state"), c.Cert, c.Key, c.CA, c.Token, logPath)), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() { done <- Run(ctx, []string{"ship", "--config", cfg}, strings.NewReader(""), &out, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if acceptedBytes(t, r, "lab-9", "app.log") == 17 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("ship exited %d: %s", code, errb.String())
	}
	if n := acceptedBytes(t, r, "lab-9", "app.log"); n != 17 {
		t.Fatalf("the receiver accepted %d bytes; want the 17 bytes of app.log", n)
	}
}

func TestHeartbeatCommand(t *testing.T) {
	r := receivertest.Start(t, nil)
	c := r.IssueHost("lab-9", time.Now(), time.Hour)
	cfg := filepath.Join(t.TempDir(), "lab-host.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("receiver = %q\nhost = \"lab-9\"\n[tls]\ncert = %q\nkey = %q\nca = %q\ntoken_file = %q\n",
		r.URL, c.Cert, c.Key, c.CA, c.Token)), 0o644)
	if code, _, errs := run(t, "heartbeat", "--config", cfg, "--state", "sleep"); code != 0 {
		t.Fatalf("heartbeat exited %d: %s", code, errs)
	}
	lines := r.Index()
	if l := lines[len(lines)-1]; l.Endpoint != "heartbeat" || l.State != "sleep" || l.Status != 200 || l.Host != "lab-9" {
		t.Fatalf("last index line %+v; want a sleep heartbeat from lab-9", l)
	}
	if code, _, _ := run(t, "heartbeat", "--config", cfg, "--state", "napping"); code != 2 {
		t.Fatalf("a bad state exited %d, want 2", code)
	}
}

// acceptedBytes sums the bytes of the stream's accepted (201) PUTs, from
// the receiver's index.
func acceptedBytes(t *testing.T, r *receivertest.Receiver, host, stream string) int64 {
	t.Helper()
	var n int64
	for _, l := range r.Index() {
		if l.Host == host && l.Stream == stream && l.Status == 201 {
			n += l.Bytes
		}
	}
	return n
}

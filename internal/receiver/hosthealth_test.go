package receiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/gate"
)

// TestHostHealth: a host stores its doctor snapshot, an admin reads it
// back; only the host itself may write it, a stale stamp does not stop
// it, and bad bodies write nothing.
func TestHostHealth(t *testing.T) {
	f := newFixture(t, fixtureOpts{release: []gate.Release{{Version: "0.3.0", Commit: oldCommit}, {Version: "0.4.0", Commit: midCommit}, {Version: "0.5.0", Commit: newCommit}}, accept: 2})
	lab1, lab2, admin := f.host("lab-1"), f.host("lab-2"), f.admin("alice")
	stale := map[string]string{"X-Cis490-Code-Commit": oldCommit}
	snap := `{"schema":1,"host":"lab-1","summary":"1 fail","checks":[{"name":"tls","status":"fail"}]}`
	file := filepath.Join(f.dir, HostHealthDir, "lab-1.json")

	// A host running stale code: 426 on logs, and its snapshot still goes in.
	if r := f.do(lab1, "PUT", "/v1/logs/lab-1/syslog?offset=0", "x", stale); r.status != 426 {
		t.Fatalf("stale log PUT %d", r.status)
	}
	if r := f.do(lab1, "PUT", "/v1/host-health/lab-1", snap, stale); r.status != 200 || !strings.Contains(r.body, `"received_at"`) {
		t.Fatalf("snapshot PUT with a stale stamp: %d %s", r.status, r.body)
	}
	if b, _ := os.ReadFile(file); string(b) != snap {
		t.Fatalf("stored %q", b)
	}

	for _, c := range []struct {
		name   string
		who    cred
		path   string
		body   string
		status int
		reason string
	}{
		{"another host's credentials", lab2, "/v1/host-health/lab-1", `{"evil":true}`, 403, "host-mismatch"},
		{"an admin writes as no host", admin, "/v1/host-health/lab-1", `{"evil":true}`, 403, "admin-write"},
		{"not JSON", lab1, "/v1/host-health/lab-1", `all good`, 400, "bad-json"},
		{"a JSON array", lab1, "/v1/host-health/lab-1", `[1,2]`, 400, "bad-json"},
		{"truncated JSON", lab1, "/v1/host-health/lab-1", `{"schema":1,`, 400, "bad-json"},
		{"over 256 KiB", lab1, "/v1/host-health/lab-1", `{"x":"` + strings.Repeat("a", MaxSnapshot) + `"}`, 413, "too-large"},
		{"a bad host name", lab1, "/v1/host-health/..", `{}`, 400, "bad-name"},
	} {
		r := f.do(c.who, "PUT", c.path, c.body, nil)
		if r.status != c.status || !strings.Contains(r.body, "error") {
			t.Errorf("%s: %d %s; want %d", c.name, r.status, r.body, c.status)
		}
		if l := f.indexLines(); l[len(l)-1].Reason != c.reason {
			t.Errorf("%s: indexed reason %q, want %q", c.name, l[len(l)-1].Reason, c.reason)
		}
		if b, _ := os.ReadFile(file); string(b) != snap {
			t.Fatalf("%s changed the stored snapshot to %q", c.name, b)
		}
	}

	// Admins read them; hosts do not.
	if r := f.do(lab1, "GET", "/v1/host-health", "", nil); r.status != 403 {
		t.Fatalf("a host listing snapshots: %d", r.status)
	}
	f.do(lab2, "PUT", "/v1/host-health/lab-2", `{"schema":1,"summary":"ok"}`, nil)
	r := f.do(admin, "GET", "/v1/host-health", "", nil)
	var all struct {
		Hosts []Snapshot `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(r.body), &all); err != nil || len(all.Hosts) != 2 || all.Hosts[0].Host != "lab-1" ||
		string(all.Hosts[0].Snapshot) != snap || time.Since(all.Hosts[0].ReceivedAt) > time.Minute {
		t.Fatalf("GET /v1/host-health: %d %s", r.status, r.body)
	}
	if r := f.do(admin, "GET", "/v1/host-health/lab-2", "", nil); r.status != 200 || !strings.Contains(r.body, `"summary":"ok"`) {
		t.Fatalf("GET one snapshot: %d %s", r.status, r.body)
	}
	if r := f.do(admin, "GET", "/v1/host-health/lab-3", "", nil); r.status != 404 || !strings.Contains(r.body, "no doctor snapshot") {
		t.Fatalf("GET a missing snapshot: %d %s", r.status, r.body)
	}
}

// TestWriteAtomicConcurrent: writers replacing one file while readers
// read it: every read is one whole body, never torn or mixed, and no temp
// file is left.
func TestWriteAtomicConcurrent(t *testing.T) {
	dir := t.TempDir()
	bodies := make([][]byte, 4)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte(fmt.Sprintf("%d", i)), 64<<10+i*1000)
	}
	if err := writeAtomic(dir, "h.json", bodies[0], time.Now()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := writeAtomic(dir, "h.json", bodies[(w+i)%len(bodies)], time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	reads := 0
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join(dir, "h.json"))
		if err != nil {
			t.Fatal(err)
		}
		whole := false
		for _, want := range bodies {
			whole = whole || bytes.Equal(b, want)
		}
		if !whole {
			t.Fatalf("read %d bytes that are no body written (torn or mixed)", len(b))
		}
		reads++
	}
	close(stop)
	wg.Wait()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || reads < 10 {
		t.Fatalf("%d files left (want only h.json), %d reads", len(ents), reads)
	}
}

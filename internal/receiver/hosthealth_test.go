package receiver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/hosthealth"
)

// TestHostHealth: a host stores its doctor snapshot, an admin reads it
// back; only the host itself may write it, a stale stamp does not stop
// it, and bad bodies write nothing.
func TestHostHealth(t *testing.T) {
	f := newFixture(t, fixtureOpts{release: []gate.Release{{Version: "0.3.0", Commit: oldCommit}, {Version: "0.4.0", Commit: midCommit}, {Version: "0.5.0", Commit: newCommit}}, accept: 2})
	lab1, lab2, admin := f.host("lab-1"), f.host("lab-2"), f.admin("alice")
	stale := map[string]string{"X-Cis490-Code-Commit": oldCommit}
	snap := `{"schema":1,"host":"lab-1","summary":"1 fail","checks":[{"name":"tls","status":"fail"}]}`
	file := filepath.Join(datadir.Dir(f.dir).HostHealth(), "lab-1.json")

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
		{"over 256 KiB", lab1, "/v1/host-health/lab-1", `{"x":"` + strings.Repeat("a", hosthealth.MaxSize) + `"}`, 413, "too-large"},
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
		Hosts []hosthealth.Snapshot `json:"hosts"`
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

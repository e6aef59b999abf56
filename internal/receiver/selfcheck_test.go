package receiver

import (
	"testing"

	"github.com/cis490/cis490/internal/gate"
)

// TestSelfCheckHeaders: every answer to a host says what its doctor needs:
// the gate's verdict on its code, the accepted releases, and the
// installations that spoke as it lately (a clone shows as two).
func TestSelfCheckHeaders(t *testing.T) {
	f := newFixture(t, fixtureOpts{release: []gate.Release{{Version: "0.3.0", Commit: oldCommit}, {Version: "0.4.0", Commit: midCommit}, {Version: "0.5.0", Commit: newCommit}}, accept: 2})
	lab1, admin := f.host("lab-1"), f.admin("alice")
	r := f.do(lab1, "PUT", "/v1/heartbeat/lab-1", "", map[string]string{"X-Cis490-Code-Commit": oldCommit, "X-Cis490-Instance": "aaa"})
	if r.status != 200 || r.header.Get(HeaderGate) != "stale" || r.header.Get(HeaderAccepted) != "0.5.0 "+newCommit+", 0.4.0 "+midCommit {
		t.Fatalf("stale host: %d gate %q accepted %q", r.status, r.header.Get(HeaderGate), r.header.Get(HeaderAccepted))
	}
	r = f.do(lab1, "HEAD", "/v1/logs/lab-1/nope", "", map[string]string{"X-Cis490-Code-Commit": newCommit, "X-Cis490-Instance": "bbb"})
	if r.header.Get(HeaderGate) != "pass" || r.header.Get(HeaderInstances) != "aaa,bbb" {
		t.Fatalf("current host from a second installation: gate %q instances %q", r.header.Get(HeaderGate), r.header.Get(HeaderInstances))
	}
	r = f.do(lab1, "HEAD", "/v1/logs/lab-1/nope", "", nil)
	if r.header.Get(HeaderGate) != "unstamped" {
		t.Fatalf("unstamped host: gate %q", r.header.Get(HeaderGate))
	}
	if r := f.do(admin, "GET", "/v1/logs/lab-1", "", nil); r.header.Get(HeaderGate) != "" || r.header.Get(HeaderInstances) != "" {
		t.Fatalf("an admin got host headers: %v", r.header)
	}
}

package receiver

import (
	"testing"

	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/wire"
)

// TestSelfCheckHeaders: every answer to a host says what its doctor needs:
// the gate's verdict on its code, the accepted releases, and the
// installations that spoke as it lately (a clone shows as two).
func TestSelfCheckHeaders(t *testing.T) {
	f := newFixture(t, fixtureOpts{release: []gate.Release{{Version: "0.3.0", Commit: oldCommit}, {Version: "0.4.0", Commit: midCommit}, {Version: "0.5.0", Commit: newCommit}}, accept: 2})
	lab1, admin := f.host("lab-1"), f.admin("alice")
	r := f.do(lab1, "PUT", "/v1/heartbeat/lab-1", "", map[string]string{"X-Cis490-Code-Commit": oldCommit, "X-Cis490-Instance": "aaa"})
	if r.status != 200 || r.header.Get(wire.HeaderGate) != "stale" || r.header.Get(wire.HeaderAccepted) != "0.5.0 "+newCommit+", 0.4.0 "+midCommit {
		t.Fatalf("stale host: %d gate %q accepted %q", r.status, r.header.Get(wire.HeaderGate), r.header.Get(wire.HeaderAccepted))
	}
	r = f.do(lab1, "HEAD", "/v1/logs/lab-1/nope", "", map[string]string{"X-Cis490-Code-Commit": newCommit, "X-Cis490-Instance": "bbb"})
	if r.header.Get(wire.HeaderGate) != "pass" || r.header.Get(wire.HeaderInstances) != "aaa,bbb" {
		t.Fatalf("current host from a second installation: gate %q instances %q", r.header.Get(wire.HeaderGate), r.header.Get(wire.HeaderInstances))
	}
	r = f.do(lab1, "HEAD", "/v1/logs/lab-1/nope", "", nil)
	if r.header.Get(wire.HeaderGate) != "unstamped" {
		t.Fatalf("unstamped host: gate %q", r.header.Get(wire.HeaderGate))
	}
	if r := f.do(admin, "GET", "/v1/logs/lab-1", "", nil); r.header.Get(wire.HeaderGate) != "" || r.header.Get(wire.HeaderInstances) != "" {
		t.Fatalf("an admin got host headers: %v", r.header)
	}
}

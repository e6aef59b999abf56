package receiver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

// TestSlowRenewalHoldsNoLock: a host trickling its renewal's body does not
// hold the trust lock, so `host remove` (here of another host) goes on at
// once rather than waiting on the slow host's network.
func TestSlowRenewalHoldsNoLock(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c := f.host("lab-1")
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPost, f.url+"/v1/certs/renew", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	done := make(chan int, 1)
	go func() {
		resp, err := f.client(c).Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"csr": "`)); err != nil { // the request is under way
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the handler is waiting on the rest of the body
	removed := make(chan error, 1)
	go func() {
		_, _, err := trust.Local(f.dir).RevokeHost(t.Context(), "lab-2", "removed", time.Now(), nil)
		removed <- err
	}()
	select {
	case err := <-removed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a revocation waited on a renewal still reading its body")
	}
	pw.Close()
	if status := <-done; status != http.StatusBadRequest {
		t.Fatalf("the cut-short renewal: %d", status)
	}
}

// renewal is the body of a renewal for host.
func renewal(t *testing.T, host string) string {
	t.Helper()
	b, err := json.Marshal(wire.RenewRequest{CSR: csrFor(t, host)})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// threads counts this process's OS threads.
func threads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skipf("no /proc/self/task to count threads in: %v", err)
	}
	return len(ents)
}

// TestTrustLockWaitersPinNoThreads: requests queued behind a held trust
// lock (a trickle attack, a slow disk, a long admin command) do not cost
// the receiver an OS thread each, and all go through once it is free.
func TestTrustLockWaitersPinNoThreads(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	const n = 40
	hosts := make([]cred, n)
	bodies := make([]string, n)
	for i := range hosts {
		name := fmt.Sprintf("lab-%d", i)
		hosts[i], bodies[i] = f.host(name), renewal(t, name)
	}
	unlock, err := vfs.Lock(datadir.Dir(f.dir).TrustLock(), 0o640) // as another process would
	if err != nil {
		t.Fatal(err)
	}
	before := threads(t)
	done := make(chan reply, n)
	for i := range hosts {
		go func() { done <- f.do(hosts[i], http.MethodPost, "/v1/certs/renew", bodies[i], nil) }()
	}
	time.Sleep(time.Second) // every renewal is waiting for the lock
	during := threads(t)
	unlock()
	for range n {
		if r := <-done; r.status != http.StatusCreated {
			t.Fatalf("a renewal after the lock came free: %d %s", r.status, r.body)
		}
	}
	// The clients' connections and the handshakes take a few threads; a
	// thread per waiter would take n.
	if during-before >= n/4 {
		t.Fatalf("%d renewals waiting for the trust lock took %d threads more (%d → %d)", n, during-before, before, during)
	}
}

// TestTrustLockDeadline: a request that cannot get the trust lock in
// time is answered 503 overloaded with a Retry-After, changes nothing,
// and the lock's next holder goes on.
func TestTrustLockDeadline(t *testing.T) {
	f := newFixture(t, fixtureOpts{lockWait: 300 * time.Millisecond})
	c := f.host("lab-1")
	unlock, err := vfs.Lock(datadir.Dir(f.dir).TrustLock(), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := f.do(c, http.MethodPost, "/v1/certs/renew", renewal(t, "lab-1"), nil)
	unlock()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, `"reason":"overloaded"`) {
		t.Fatalf("a renewal behind a held lock: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("answered after %s, with a 300ms lock wait", waited)
	}
	issued, err := pki.IssuedTo(datadir.Dir(f.dir).Issued(), "lab-1")
	if err != nil || len(issued) != 0 {
		t.Fatalf("the refused renewal left %d certificates in the ledger (%v)", len(issued), err)
	}
	if r := f.do(c, http.MethodPost, "/v1/certs/renew", renewal(t, "lab-1"), nil); r.status != http.StatusCreated {
		t.Fatalf("renewing once the lock is free: %d %s", r.status, r.body)
	}
}

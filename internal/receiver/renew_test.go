package receiver

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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

// renew renews c's certificate and returns the new credentials.
func (f *fixture) renew(c cred, host string) cred {
	f.t.Helper()
	csr, key := csrWithKey(f.t, host)
	b, _ := json.Marshal(wire.RenewRequest{CSR: csr})
	r := f.do(c, http.MethodPost, "/v1/certs/renew", string(b), nil)
	if r.status != http.StatusCreated {
		f.t.Fatalf("renew %s: %d %s", host, r.status, r.body)
	}
	var got wire.Renewed
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		f.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return cred{cert: f.pair([]byte(got.Cert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), token: c.token}
}

// TestRenewalRetiresTheOldCertOnFirstUse: after a renewal the old
// certificate keeps working (the host may never have got the answer, and
// may renew again with it) until the host uses a new one; from then on
// every earlier certificate is refused as revoked.
func TestRenewalRetiresTheOldCertOnFirstUse(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	heartbeat := func(c cred) reply {
		t.Helper()
		return f.do(c, http.MethodPut, "/v1/heartbeat/lab-1", `{"state":"up"}`, nil)
	}
	old := f.host("lab-1")
	lost := f.renew(old, "lab-1") // the host never saw this answer
	if r := heartbeat(old); r.status != http.StatusOK {
		t.Fatalf("the old certificate after a renewal whose answer was lost: %d %s", r.status, r.body)
	}
	next := f.renew(old, "lab-1") // it renews again with the one it has
	if r := heartbeat(old); r.status != http.StatusOK {
		t.Fatalf("the old certificate before the new one is used: %d %s", r.status, r.body)
	}
	if r := heartbeat(next); r.status != http.StatusOK {
		t.Fatalf("the renewed certificate: %d %s", r.status, r.body)
	}
	time.Sleep(250 * time.Millisecond) // the list is re-read at most every 200 ms
	for name, c := range map[string]cred{"the old certificate": old, "the lost renewal's": lost} {
		if r := heartbeat(c); r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"reason":"cert-revoked"`) {
			t.Fatalf("%s once the renewed one is in use: %d %s", name, r.status, r.body)
		}
	}
	if r := heartbeat(next); r.status != http.StatusOK {
		t.Fatalf("the renewed certificate afterwards: %d %s", r.status, r.body)
	}
}

// TestTrickledRenewalIsCut: a renewal whose body does not arrive within
// the small-body time is answered 408 slow-body and its connection
// closed, rather than held for the server's two minutes.
func TestTrickledRenewalIsCut(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.srv.smallBodyTime = 300 * time.Millisecond
	c := f.host("lab-1")
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/certs/renew", pr)
	req.Header.Set("Authorization", "Bearer "+c.token)
	go pw.Write([]byte(`{"csr": "`)) // and never the rest
	resp, err := f.client(c).Do(req)
	if err != nil {
		t.Fatalf("a trickled renewal got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("a trickled renewal: %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
}

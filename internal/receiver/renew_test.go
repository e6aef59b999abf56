package receiver

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/trust"
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
		_, _, err := trust.Local(f.dir).RevokeHost("lab-2", "removed", time.Now(), nil)
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

package receiver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/wire"
)

// csrFor makes a key and a CSR that asks for far more than it may get.
func csrFor(t *testing.T, cn string) string {
	t.Helper()
	csr, _ := csrWithKey(t, cn)
	return csr
}

func csrWithKey(t *testing.T, cn string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cn},
		DNSNames: []string{cn, "receiver.test", "lab-2"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

// TestEnroll: a join token enrolls the hosts it names, once each, until it
// expires; the CA signs only the bound name, for client auth; enrolling
// again revokes the host's old credentials.
func TestEnroll(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	now := time.Now()
	fp := f.ca.Fingerprint()
	one, _ := token.Files(f.tokens).AddJoin(fp, "lab-1", 1, now.Add(time.Hour), now)
	room, _ := token.Files(f.tokens).AddJoin(fp, "lab-1??", 3, now.Add(time.Hour), now)
	old, _ := token.Files(f.tokens).AddJoin(fp, "lab-9", 1, now.Add(-time.Minute), now.Add(-time.Hour))
	revoked, _ := token.Files(f.tokens).AddJoin(fp, "lab-8", 1, now.Add(time.Hour), now)
	token.Files(f.tokens).RevokeID(token.ID(revoked))

	post := func(tok, host, csr string) reply {
		b, _ := json.Marshal(wire.EnrollRequest{Host: host, CSR: csr})
		return f.do(cred{token: tok}, http.MethodPost, "/v1/enroll", string(b), nil)
	}
	csr, key := csrWithKey(t, "receiver.test")
	r := post(one, "lab-1", csr)
	if r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	var got wire.Enrolled
	json.Unmarshal([]byte(r.body), &got)
	cert, err := pki.ParseCertPEM([]byte(got.Cert))
	if err != nil || cert.Subject.CommonName != "lab-1" || len(cert.DNSNames) != 1 || cert.DNSNames[0] != "lab-1" ||
		len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || !strings.HasPrefix(got.Token, "c490_") {
		t.Fatalf("enrolled certificate %+v, %v; response %+v", cert, err, got)
	}
	// The new credentials work.
	pair := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
	if r := f.do(cred{cert: pair, token: got.Token}, "PUT", "/v1/heartbeat/lab-1", "", nil); r.status != 200 {
		t.Fatalf("a heartbeat with the enrolled credentials: %d %s", r.status, r.body)
	}

	for _, c := range []struct {
		name, tok, host string
		status          int
		reason          string
	}{
		{"replayed", one, "lab-1", 403, "join-used"},
		{"used up, for another host", one, "lab-2", 403, "join-used"}, // refused before the body is read
		{"outside the room pattern", room, "lab-2", 403, "join-host"},
		{"expired", old, "lab-9", 401, "join-expired"},
		{"revoked", revoked, "lab-8", 401, "join-token"},
		{"not a join token", got.Token, "lab-1", 401, "join-token"},
		{"the receiver's own name", room, "receiver.test", 400, "bad-name"},
		{"a bad name", room, "lab_100", 400, "bad-name"},
	} {
		r := post(c.tok, c.host, csrFor(t, c.host))
		if r.status != c.status {
			t.Errorf("%s: %d %s; want %d", c.name, r.status, r.body, c.status)
		}
		if l := f.indexLines(); l[len(l)-1].Reason != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, l[len(l)-1].Reason, c.reason)
		}
	}
	// A room token: each name once, up to its uses.
	for _, h := range []string{"lab-100", "lab-101"} {
		if r := post(room, h, csrFor(t, h)); r.status != 201 {
			t.Fatalf("room %s: %d %s", h, r.status, r.body)
		}
	}
	if r := post(room, "lab-100", csrFor(t, "lab-100")); r.status != 403 {
		t.Fatalf("a room name enrolling twice: %d", r.status)
	}

	// Enrolling lab-1 again revokes what it had: at once.
	again, _ := token.Files(f.tokens).AddJoin(fp, "lab-1", 1, now.Add(time.Hour), now)
	if r := post(again, "lab-1", csrFor(t, "lab-1")); r.status != 201 {
		t.Fatalf("enroll again: %d %s", r.status, r.body)
	}
	time.Sleep(250 * time.Millisecond)
	if r := f.do(cred{cert: pair, token: got.Token}, "PUT", "/v1/heartbeat/lab-1", "", nil); r.status != 401 {
		t.Fatalf("the old credentials after enrolling again: %d %s; want 401", r.status, r.body)
	}
}

// TestRoomTokenCannotTakeOver: a room token enrolls new machines only; a
// host that is enrolled is replaced only with a token for it alone. A
// name the CA refuses costs the token nothing.
func TestRoomTokenCannotTakeOver(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	now := time.Now()
	fp := f.ca.Fingerprint()
	room, _ := token.Files(f.tokens).AddJoin(fp, "LAB-1??", 5, now.Add(time.Hour), now)
	post := func(tok, host string) reply {
		b, _ := json.Marshal(wire.EnrollRequest{Host: host, CSR: csrFor(t, host)})
		return f.do(cred{token: tok}, http.MethodPost, "/v1/enroll", string(b), nil)
	}
	if r := post(room, "lab-150"); r.status != 201 {
		t.Fatalf("a new machine with the room token (its pattern folded): %d %s", r.status, r.body)
	}
	other, _ := token.Files(f.tokens).AddJoin(fp, "lab-1??", 5, now.Add(time.Hour), now)
	if r := post(other, "lab-150"); r.status != 409 || !strings.Contains(r.body, "enrolls new machines only") {
		t.Fatalf("another room token on an enrolled host: %d %s; want 409", r.status, r.body)
	}
	mine, _ := token.Files(f.tokens).AddJoin(fp, "lab-150", 1, now.Add(time.Hour), now)
	if r := post(mine, "lab-150"); r.status != 201 {
		t.Fatalf("the host's own token replacing it: %d %s", r.status, r.body)
	}
	// A weak key is refused before the token is spent.
	single, _ := token.Files(f.tokens).AddJoin(fp, "lab-160", 1, now.Add(time.Hour), now)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "lab-160"}}, weak)
	b, _ := json.Marshal(wire.EnrollRequest{Host: "lab-160", CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if r := f.do(cred{token: single}, http.MethodPost, "/v1/enroll", string(b), nil); r.status != 400 || !strings.Contains(r.body, "2048") {
		t.Fatalf("a 1024-bit key: %d %s", r.status, r.body)
	}
	if r := post(single, "lab-160"); r.status != 201 {
		t.Fatalf("the same token after the refused request: %d %s", r.status, r.body)
	}
	// An unknown join token is refused from memory, and its line names no host.
	if r := post("c490j_"+strings.Repeat("ab", 32)+"_"+strings.Repeat("x", 43), "lab-170"); r.status != 401 {
		t.Fatalf("an unknown join token: %d", r.status)
	}
	if l := f.indexLines(); l[len(l)-1].Host != "" || l[len(l)-1].Reason != "join-token" {
		t.Fatalf("a refused enrollment's index line %+v", l[len(l)-1])
	}
}

// TestEnrollWaitsForHostRemove: while an admin command changes the fleet's
// credentials (host remove holds the trust lock), an enrollment waits, so
// neither undoes half of the other.
func TestEnrollWaitsForHostRemove(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	now := time.Now()
	tok, _ := token.Files(f.tokens).AddJoin(f.ca.Fingerprint(), "lab-1", 1, now.Add(time.Hour), now)
	unlock, err := trust.Files(datadir.Dir(f.dir)).Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan reply, 1)
	b, _ := json.Marshal(wire.EnrollRequest{Host: "lab-1", CSR: csrFor(t, "lab-1")})
	go func() {
		done <- f.do(cred{token: tok}, http.MethodPost, "/v1/enroll", string(b), nil)
	}()
	select {
	case r := <-done:
		t.Fatalf("enrolled (%d) while the trust lock was held", r.status)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	if r := <-done; r.status != 201 {
		t.Fatalf("after the lock was released: %d %s", r.status, r.body)
	}
}

// TestEnrollChecksTheTokenFirst: a caller without a usable join token is
// refused before its body is read, so a stalled body holds nothing, and
// the connection is closed after the refusal.
func TestEnrollChecksTheTokenFirst(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	now := time.Now()
	spent, _ := token.Files(f.tokens).AddJoin(f.ca.Fingerprint(), "lab-1", 1, now.Add(-time.Second), now.Add(-time.Hour))
	for _, tok := range []string{"c490j_not-a-token", spent} {
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/enroll", pr)
		req.ContentLength = 60000
		req.Header.Set("Authorization", "Bearer "+tok)
		go pw.Write([]byte(`{"host":"lab-1",`)) // and never the rest
		resp, err := f.client(cred{}).Do(req)
		if err != nil {
			t.Fatalf("enroll with a stalled body and token %.8s…: %v; want an answer before the body", tok, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("enroll with token %.8s…: %d, close %v; want 401 and the connection closed", tok, resp.StatusCode, resp.Close)
		}
	}
}

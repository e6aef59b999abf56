package receiver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/pki"
)

// serveForShutdown runs Serve with h on a loopback listener and returns its
// address, a client TLS config that trusts it, the cancel that starts the
// stop and the channel Serve's result arrives on.
func serveForShutdown(t *testing.T, h http.Handler) (string, *tls.Config, context.CancelFunc, <-chan error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := pki.Init(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }
	go func() { done <- Serve(ctx, ln, h, TLSConfig(ca.Cert, getCert), 10*time.Second, nil) }()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, cancel, done
}

func waitStopped(t *testing.T, done <-chan error, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after the stop: %v", err)
		}
	case <-time.After(within):
		t.Fatalf("the receiver did not stop within %v", within)
	}
	return time.Since(start)
}

// TestShutdownAnswersRequestsOnTheWire: a host that connected before the
// stop and whose request arrives just after it is answered (and told the
// connection closes), not cut off unanswered as http.Server.Shutdown alone
// would do.
func TestShutdownAnswersRequestsOnTheWire(t *testing.T) {
	addr, tc, stop, done := serveForShutdown(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("stored"))
	}))
	conn, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop()
	time.Sleep(100 * time.Millisecond) // the stop has begun; the request is late
	req, _ := http.NewRequest(http.MethodPut, "https://"+addr+"/v1/logs/h/s?offset=0", strings.NewReader("a line\n"))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("a request sent on a connection accepted before the stop got no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "stored" || !resp.Close {
		t.Fatalf("answer %d %q (close=%v); want 200 \"stored\" with Connection: close", resp.StatusCode, body, resp.Close)
	}
	waitStopped(t, done, 3*time.Second)
}

// TestShutdownDoesNotWaitForSilentConnections: a client that opened a
// connection and never sent a request does not hold a stopping receiver for
// Go's 5 s grace; a request in flight is still answered.
func TestShutdownDoesNotWaitForSilentConnections(t *testing.T) {
	addr, tc, stop, done := serveForShutdown(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	silent, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	answered := make(chan int, 1)
	go func() {
		resp, err := client.Get("https://" + addr + "/x")
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	stop()
	if took := waitStopped(t, done, 4*time.Second); took > 3*time.Second {
		t.Fatalf("the stop took %v; a silent connection held it", took)
	}
	if code := <-answered; code != 200 {
		t.Fatalf("the request in flight got %d; it must be answered", code)
	}
	// No new connection after the stop.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the stopped receiver still accepts connections")
	}
}

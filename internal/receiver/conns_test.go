package receiver

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// closedSoon reports whether the receiver closes c within a second,
// without c having sent anything.
func closedSoon(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF || err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestConnectionsPerAddress: connections that have not authenticated are
// capped per remote address; past the cap a new one is closed at once, and
// once the stalled ones go, callers get through again.
func TestConnectionsPerAddress(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{Conns: ConnLimits{PerAddress: 4}}})
	addr := strings.TrimPrefix(f.url, "https://")
	var stalled []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if !closedSoon(t, extra) {
		t.Fatal("a fifth silent connection from one address was kept; want it closed past max_conns_per_address = 4")
	}
	if closedSoon(t, stalled[0]) {
		t.Fatal("a connection inside the limit was closed at once")
	}
	for _, c := range stalled {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lab1 := f.host("lab-1")
		req, _ := http.NewRequest("PUT", f.url+"/v1/heartbeat/lab-1", strings.NewReader(`{"state":"up"}`))
		req.Header.Set("Authorization", "Bearer "+lab1.token)
		resp, err := f.client(lab1).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("heartbeat after the stalled connections closed = %d; want 200", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request gets through after the stalled connections closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectionsPerHost: a host past its connection limit gets its idle
// connections closed to make room (a laptop that changed networks leaves
// dead ones), and a 503 only when every one of them is busy.
func TestConnectionsPerHost(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{Conns: ConnLimits{PerHost: 2}}})
	lab1 := f.host("lab-1")
	beat := func(c *http.Client) int {
		t.Helper()
		req, _ := http.NewRequest("PUT", f.url+"/v1/heartbeat/lab-1", strings.NewReader(`{"state":"up"}`))
		req.Header.Set("Authorization", "Bearer "+lab1.token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// busy counts lab-1's connections in a request; a connection turns
	// idle just after its answer is written, so the test waits for it.
	busy := func() int {
		f.srv.conns.mu.Lock()
		defer f.srv.conns.mu.Unlock()
		n := 0
		for c := range f.srv.conns.byName["host/lab-1"] {
			if !c.idle.Load() {
				n++
			}
		}
		return n
	}
	waitBusy := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); busy() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d busy connections of lab-1 after 5 s; want %d", busy(), want)
			}
		}
	}
	// Three clients, each keeping its connection idle after a request.
	for i := range 3 {
		if st := beat(f.client(lab1)); st != http.StatusOK {
			t.Fatalf("client %d: heartbeat = %d; want 200 (an idle connection makes room)", i, st)
		}
		waitBusy(0)
	}
	// Two requests whose bodies never finish keep two connections busy.
	for i := range 2 {
		f.stall(lab1, "/v1/logs/lab-1/s?offset=0", 100)
		waitBusy(i + 1)
	}
	if st := beat(f.client(lab1)); st != http.StatusServiceUnavailable {
		t.Fatalf("a third connection while two are busy: %d; want 503", st)
	}
	// Another host is not affected.
	if st := f.do(f.host("lab-2"), "PUT", "/v1/heartbeat/lab-2", `{"state":"up"}`, nil).status; st != http.StatusOK {
		t.Fatalf("another host's heartbeat = %d; want 200", st)
	}
}

// proxyV2 is a PROXY protocol v2 header for a TCP4 caller at src.
func proxyV2(src netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	ip := src.Addr().As4()
	b = append(b, ip[:]...)
	b = append(b, 127, 0, 0, 1) // the receiver
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, 8443)
}

// viaBalancer is a client with c's credentials whose connections start
// with a PROXY header naming src, as a balancer's do.
func (f *fixture) viaBalancer(c cred, src string) *http.Client {
	addr := strings.TrimPrefix(f.url, "https://")
	hc := f.client(c)
	hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_, err = conn.Write(proxyV2(netip.MustParseAddrPort(src)))
		}
		return conn, err
	}
	return hc
}

// TestBehindABalancer: connections from a configured balancer carry the
// caller's address in a PROXY header; the index records it, the
// per-address cap counts it, and a connection without a header is refused.
func TestBehindABalancer(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{
		ProxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Conns:     ConnLimits{PerAddress: 2},
	}})
	addr := strings.TrimPrefix(f.url, "https://")
	lab1 := f.host("lab-1")
	via := func(src string) *http.Client { return f.viaBalancer(lab1, src) }
	beat := func(c *http.Client) error {
		req, _ := http.NewRequest("PUT", f.url+"/v1/heartbeat/lab-1", strings.NewReader(`{"state":"up"}`))
		req.Header.Set("Authorization", "Bearer "+lab1.token)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := beat(via("10.9.8.7:5555")); err != nil {
		t.Fatalf("a heartbeat through the balancer: %v", err)
	}
	if l := f.indexLines(); l[len(l)-1].Remote != "10.9.8.7:5555" {
		t.Fatalf("index remote %q; want the caller's 10.9.8.7:5555 from the PROXY header", l[len(l)-1].Remote)
	}
	if err := beat(f.client(lab1)); err == nil {
		t.Fatal("a connection from the balancer without a PROXY header was served")
	}
	// Two silent connections from one caller behind the balancer fill
	// its per-address cap; another caller still gets through.
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(proxyV2(netip.MustParseAddrPort("10.0.0.1:1000")))
	}
	time.Sleep(200 * time.Millisecond)
	if err := beat(via("10.0.0.1:1001")); err == nil {
		t.Fatal("a third connection from 10.0.0.1 was served past max_conns_per_address = 2")
	}
	if err := beat(via("10.0.0.2:1000")); err != nil {
		t.Fatalf("another caller behind the balancer: %v", err)
	}
}

// TestConnectionArrivalRate: one address opening connections faster than
// the arrival rate has the extra ones closed at accept (each would cost a
// TLS handshake), while connections it already holds are kept.
func TestConnectionArrivalRate(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{Conns: ConnLimits{ArrivalRate: 0.01, ArrivalBurst: 3}}})
	addr := strings.TrimPrefix(f.url, "https://")
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	if !closedSoon(t, held[3]) {
		t.Fatal("a fourth connection past a burst of 3 was kept")
	}
	if closedSoon(t, held[0]) {
		t.Fatal("a connection within the burst was closed at once")
	}
}

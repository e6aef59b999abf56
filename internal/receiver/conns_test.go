package receiver

import (
	"io"
	"net"
	"net/http"
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

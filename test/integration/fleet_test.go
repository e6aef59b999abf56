package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// ---------------------------------------------------------------------------
// A fleet: CA, hosts and an admin made with the CLI.

type fleet struct {
	t     *testing.T
	dir   string
	rcv   *receiverProc
	led   *ledger
	admin *client
	hosts map[string]*client
}

// newFleet makes receiver.toml, runs `ca init`, issues a bundle for every
// host and one admin bundle with `ca issue`, and loads them as clients.
// keepAlive=false gives every request its own connection.
func newFleet(t *testing.T, hosts []string, keepAlive bool) *fleet {
	t.Helper()
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir, rcv: newReceiverProc(t, dir), led: newLedger(), hosts: map[string]*client{}}
	f.rcv.initCA()
	for _, h := range hosts {
		out := filepath.Join(dir, "bundles", h)
		runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--host", h, "--out", out)
		f.hosts[h] = f.loadClient(h, out, "host", keepAlive)
	}
	out := filepath.Join(dir, "bundles", "admin")
	runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--admin", "it-admin", "--out", out)
	f.admin = f.loadClient("it-admin", out, "admin", true)
	return f
}

func (f *fleet) loadClient(name, dir, kind string, keepAlive bool) *client {
	f.t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, kind+".crt"), filepath.Join(dir, kind+".key"))
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		f.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		f.t.Fatal(err)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 4,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &client{name: name, token: strings.TrimSpace(string(tok)), rcv: f.rcv, led: f.led,
		hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// ---------------------------------------------------------------------------
// Clients and the ledger of answered requests.

// client speaks the receiver's API with one set of credentials.
type client struct {
	name  string
	token string
	hc    *http.Client
	rcv   endpoint // a receiver, or a load balancer in front of several
	led   *ledger
}

// endpoint is where a client sends its requests; URL is read before every
// request, as a restarted receiver may have moved.
type endpoint interface{ URL() string }

// result is one request's outcome as the client saw it.
type result struct {
	status int
	header http.Header
	body   []byte
	err    error // transport failure: no answer
	wrote  bool  // the request headers were written to a connection
	local  string
	start  time.Time
	end    time.Time
}

// length reads {"length": L} from a JSON answer.
func (r result) length() (int64, bool) {
	var v struct {
		Length *int64 `json:"length"`
	}
	if json.Unmarshal(r.body, &v) != nil || v.Length == nil {
		return 0, false
	}
	return *v.Length, true
}

// do sends one request to /v1/logs/{host}[/{stream}]. body may be nil; n is
// its length. Every answered request is recorded in the ledger.
func (c *client) do(method, host, stream, query string, body io.Reader, n int64) result {
	path := "/v1/logs/" + host
	if stream != "" {
		path += "/" + stream
	}
	if query != "" {
		path += "?" + query
	}
	res := result{start: time.Now()}
	req, err := http.NewRequest(method, c.rcv.URL()+path, body)
	if err != nil {
		res.err = err
		return res
	}
	if body != nil {
		req.ContentLength = n
		if n == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "cis490/integration-test")
	req.Header.Set("X-Cis490-Instance", "it-"+c.name)
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) {
			mu.Lock()
			if res.wrote {
				// net/http retries a GET or HEAD whose reused connection
				// broke: the first try may have reached the receiver.
				c.led.addLost(ledgerKey(res.local, method, host, stream, 0, n))
				res.wrote = false
			}
			res.local = ci.Conn.LocalAddr().String()
			mu.Unlock()
		},
		WroteHeaders: func() {
			mu.Lock()
			res.wrote = true
			mu.Unlock()
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
	resp, err := c.hc.Do(req)
	if err == nil {
		res.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		res.status, res.header = resp.StatusCode, resp.Header
	}
	res.end = time.Now()
	if res.status == http.StatusTooManyRequests && res.header.Get(wire.HeaderReason) == wire.ReasonRate {
		n = 0 // refused before its body was read: the line counts no bytes
	}
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		res.err = err
		switch {
		case res.status != 0:
			// The answer started but its body broke: the receiver did answer.
			c.led.add(ledgerKey(res.local, method, host, stream, res.status, n))
		case res.wrote:
			// The receiver may have handled it: it may have an index line.
			c.led.addLost(ledgerKey(res.local, method, host, stream, 0, n))
		}
		return res
	}
	c.led.add(ledgerKey(res.local, method, host, stream, res.status, n))
	return res
}

// head returns a stream's length; 404 is length 0.
func (c *client) head(host, stream string) (int64, result) {
	r := c.do(http.MethodHead, host, stream, "", nil, 0)
	if r.err != nil {
		return 0, r
	}
	if r.status == http.StatusNotFound {
		return 0, r
	}
	if r.status != http.StatusOK {
		r.err = fmt.Errorf("HEAD %s/%s answered %d: %s", host, stream, r.status, r.body)
		return 0, r
	}
	n, err := strconv.ParseInt(r.header.Get("X-Cis490-Length"), 10, 64)
	if err != nil {
		r.err = fmt.Errorf("HEAD %s/%s: X-Cis490-Length %q: %v", host, stream, r.header.Get("X-Cis490-Length"), err)
	}
	return n, r
}

// read returns up to limit stored bytes from offset (admin only).
func (c *client) read(host, stream string, offset, limit int64) ([]byte, error) {
	r := c.do(http.MethodGet, host, stream, fmt.Sprintf("offset=%d&limit=%d", offset, limit), nil, 0)
	if r.err != nil {
		return nil, r.err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("GET %s/%s offset %d: %d %s", host, stream, offset, r.status, r.body)
	}
	return r.body, nil
}

// readAll reads [0, length) in 8 MiB pieces.
func (c *client) readAll(host, stream string, length int64) ([]byte, error) {
	out := make([]byte, 0, length)
	for int64(len(out)) < length {
		b, err := c.read(host, stream, int64(len(out)), min(8<<20, length-int64(len(out))))
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("GET %s/%s offset %d returned nothing below length %d", host, stream, len(out), length)
		}
		out = append(out, b...)
	}
	return out, nil
}

// ledger counts the requests sent, by what their index line must say:
// those answered, and those whose answer was lost (the connection broke
// after the request was written), which may or may not have a line.
type ledger struct {
	mu   sync.Mutex
	n    map[string]int
	lost map[string]int // keyed with status 0: no status came back
}

func newLedger() *ledger { return &ledger{n: map[string]int{}, lost: map[string]int{}} }

func (l *ledger) add(key string) {
	l.mu.Lock()
	l.n[key]++
	l.mu.Unlock()
}

func (l *ledger) addLost(key string) {
	l.mu.Lock()
	l.lost[key]++
	l.mu.Unlock()
}

// ledgerView is a copy of a ledger's counts.
type ledgerView struct{ answered, lost map[string]int }

func (l *ledger) snapshot() ledgerView {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ledgerView{answered: maps.Clone(l.n), lost: maps.Clone(l.lost)}
}

// ledgerKey identifies a request by what both the client and the index line
// know of it: the client's address (the line's remote), method, host and
// status, and for a PUT its stream and body size.
func ledgerKey(remote, method, host, stream string, status int, bytes int64) string {
	if method != http.MethodPut {
		stream, bytes = "", 0
	}
	return fmt.Sprintf("%s %s %s/%s %d %d", remote, method, host, stream, status, bytes)
}

package receiver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

const (
	oldCommit = "1111111111111111111111111111111111111111"
	midCommit = "2222222222222222222222222222222222222222"
	newCommit = "3333333333333333333333333333333333333333"
	devCommit = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"
)

// boomStore panics on the stream named "boom", to prove a handler panic is
// answered 500 and indexed.
type boomStore struct{ store.Streams }

func (b boomStore) Begin(ctx context.Context, k store.Key, off int64, g store.Gen, d []byte) (store.Begun, error) {
	if k.Stream == "boom" {
		panic("boom")
	}
	return b.Streams.Begin(ctx, k, off, g, d)
}

// TestRequests drives every kind of good and bad request through a real
// receiver and checks the answer, the index line and what was stored.
func TestRequests(t *testing.T) {
	start := time.Now() // the store's clock stays here: the daily quota must not reset at a midnight mid-test
	f := newFixture(t, fixtureOpts{
		store:   store.Options{HostBytesPerDay: 8192, Now: func() time.Time { return start }},
		server:  Options{MaxBody: 8192},
		release: []gate.Release{{Version: "0.1.0", Commit: oldCommit}, {Version: "0.2.0", Commit: midCommit}, {Version: "0.3.0", Commit: newCommit}},
		accept:  2,
		wrap:    func(s store.Streams) store.Streams { return boomStore{s} },
	})
	lab1, lab2, lab3 := f.host("lab-1"), f.host("lab-2"), f.host("lab-3")
	admin := f.admin("alice")

	// Credentials that must fail.
	foreignCA, err := pki.Init(t.TempDir(), []string{"evil.test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fc, fk, _ := foreignCA.IssueHost("lab-1", time.Hour, time.Now())
	foreign := cred{cert: f.pair(fc, fk), token: lab1.token}
	ec, ek, _ := f.ca.IssueHost("lab-1", time.Hour, time.Now().Add(-48*time.Hour))
	expired := cred{cert: f.pair(ec, ek), token: lab1.token}
	srvPair, err := tls.LoadX509KeyPair(f.dir+"/ca/server.crt", f.dir+"/ca/server.key")
	if err != nil {
		t.Fatal(err)
	}
	serverAsClient := cred{cert: &srvPair, token: lab1.token}
	if _, _, err := f.ca.IssueHost("receiver.test", time.Hour, time.Now()); err == nil {
		t.Fatal("the CA issued a host certificate for the receiver's own name")
	}

	put := func(host, stream string, off any) string {
		return fmt.Sprintf("/v1/logs/%s/%s?offset=%v", host, stream, off)
	}
	stamp := map[string]string{"X-Cis490-Code-Commit": newCommit, "X-Cis490-Instance": "inst-1"}
	rows := []struct {
		name     string
		c        cred
		method   string
		path     string
		body     string
		hdr      map[string]string
		status   int
		reason   string
		errHas   string // substring of the error sentence
		host     string // index host
		certHost string // index cert_host
		auth     bool
	}{
		{"append", lab1, "PUT", put("lab-1", "syslog", 0), "hello\n", stamp, 201, "", "", "lab-1", "lab-1", true},
		{"retry is not written twice", lab1, "PUT", put("lab-1", "syslog", 0), "hello\n", stamp, 200, "", "", "lab-1", "lab-1", true},
		{"partial overlap appends the tail", lab1, "PUT", put("lab-1", "syslog", 3), "lo\nworld\n", stamp, 201, "", "", "lab-1", "lab-1", true},
		{"gap", lab1, "PUT", put("lab-1", "syslog", 100), "x", stamp, 409, "gap", "resync to length 12", "lab-1", "lab-1", true},
		{"differing bytes at a stored offset", lab1, "PUT", put("lab-1", "syslog", 0), "HELLO", stamp, 409, "mismatch", "differ", "lab-1", "lab-1", true},
		{"no client certificate", cred{token: lab1.token}, "PUT", put("lab-1", "syslog", 12), "x", stamp, 401, "no-cert", "no client certificate", "lab-1", "", false},
		{"certificate from another CA", foreign, "PUT", put("lab-1", "syslog", 12), "x", stamp, 401, "cert-unknown-ca", "not issued by this fleet", "lab-1", "", false},
		{"expired certificate", expired, "PUT", put("lab-1", "syslog", 12), "x", stamp, 401, "cert-expired", "expired at", "lab-1", "lab-1", false},
		{"receiver's certificate as a client", serverAsClient, "PUT", put("lab-1", "syslog", 12), "x", stamp, 401, "cert-bad-usage", "not a client certificate", "lab-1", "", false},
		{"no token", cred{cert: lab1.cert}, "PUT", put("lab-1", "syslog", 12), "x", stamp, 401, "no-token", "no bearer token", "lab-1", "lab-1", false},
		{"wrong token", cred{cert: lab1.cert, token: "c490_nope"}, "PUT", put("lab-1", "syslog", 12), "x", stamp, 401, "bad-token", "not known to this receiver (wrong, revoked or from another fleet); set token_file in lab-host.toml to this host's token", "lab-1", "lab-1", false},
		{"an admin's wrong token", cred{cert: admin.cert, token: "c490_nope"}, "GET", "/v1/logs/lab-1", "", nil, 401, "bad-token", "use the token of your admin bundle (`cis490 ca issue --admin NAME`", "lab-1", "", false},
		{"not a bearer header", cred{cert: lab1.cert}, "PUT", put("lab-1", "syslog", 12), "x", map[string]string{"Authorization": "Basic eDp5"}, 401, "bad-token", "Bearer", "lab-1", "lab-1", false},
		{"another host's token", cred{cert: lab1.cert, token: lab2.token}, "PUT", put("lab-1", "syslog", 12), "x", stamp, 403, "host-mismatch", "belongs to host lab-2", "lab-1", "lab-1", false},
		{"another host's certificate", lab2, "PUT", put("lab-1", "syslog", 12), "x", stamp, 403, "host-mismatch", "not lab-1", "lab-1", "lab-2", false},
		{"admin cannot write", admin, "PUT", put("lab-1", "syslog", 12), "x", stamp, 403, "admin-write", "write as no host", "lab-1", "", true},
		{"admin cert with a host token", cred{cert: admin.cert, token: lab1.token}, "PUT", put("lab-1", "syslog", 12), "x", stamp, 403, "cred-mismatch", "never interchangeable", "lab-1", "", false},
		{"upper-case host folds", lab1, "PUT", put("LAB-1", "auth.log", 0), "a\n", stamp, 201, "", "", "lab-1", "lab-1", true},
		{"host ..", lab1, "PUT", put("..", "syslog", 0), "x", stamp, 400, "bad-name", "host name", "", "lab-1", false},
		{"host %2e%2e", lab1, "PUT", put("%2e%2e", "syslog", 0), "x", stamp, 400, "bad-name", "host name", "", "lab-1", false},
		{"host with an escaped slash", lab1, "PUT", put("lab-1%2f..", "syslog", 0), "x", stamp, 400, "bad-name", "host name", "", "lab-1", false},
		{"host with NUL", lab1, "PUT", put("lab%00-1", "syslog", 0), "x", stamp, 400, "bad-name", "host name", "", "lab-1", false},
		{"host with unicode", lab1, "PUT", put("lab-%C3%BC", "syslog", 0), "x", stamp, 400, "bad-name", "host name", "", "lab-1", false},
		{"host Kelvin sign", lab1, "PUT", put("lab-%E2%84%AA", "syslog", 0), "x", stamp, 400, "bad-name", "host name", "", "lab-1", false},
		{"host over-long", lab1, "PUT", put(strings.Repeat("a", 64), "syslog", 0), "x", stamp, 400, "bad-name", "63", "", "lab-1", false},
		{"stream ..", lab1, "PUT", put("lab-1", "..", 0), "x", stamp, 400, "bad-name", "stream name", "lab-1", "lab-1", true},
		{"stream %2e%2e", lab1, "PUT", put("lab-1", "%2e%2e", 0), "x", stamp, 400, "bad-name", "stream name", "lab-1", "lab-1", true},
		{"stream with a slash", lab1, "PUT", put("lab-1", "a/../../b", 0), "x", stamp, 400, "bad-name", "'/'", "lab-1", "lab-1", true},
		{"stream with a control byte", lab1, "PUT", put("lab-1", "a%0Ab", 0), "x", stamp, 400, "bad-name", "stream name", "lab-1", "lab-1", true},
		{"stream with unicode", lab1, "PUT", put("lab-1", "%C3%BC", 0), "x", stamp, 400, "bad-name", "stream name", "lab-1", "lab-1", true},
		{"stream over-long", lab1, "PUT", put("lab-1", strings.Repeat("s", 129), 0), "x", stamp, 400, "bad-name", "128", "lab-1", "lab-1", true},
		{"negative offset", lab1, "PUT", put("lab-1", "syslog", -1), "x", stamp, 400, "bad-offset", "non-negative", "lab-1", "lab-1", true},
		{"huge offset", lab1, "PUT", put("lab-1", "syslog", "99999999999999999999999"), "x", stamp, 400, "bad-offset", "non-negative", "lab-1", "lab-1", true},
		{"largest offset", lab1, "PUT", put("lab-1", "syslog", "9223372036854775807"), "x", stamp, 409, "gap", "length 12", "lab-1", "lab-1", true},
		{"non-numeric offset", lab1, "PUT", put("lab-1", "syslog", "ten"), "x", stamp, 400, "bad-offset", "non-negative", "lab-1", "lab-1", true},
		{"plus-signed offset", lab1, "PUT", put("lab-1", "syslog", "%2B12"), "x", stamp, 400, "bad-offset", "non-negative", "lab-1", "lab-1", true},
		{"missing offset", lab1, "PUT", "/v1/logs/lab-1/syslog", "x", stamp, 400, "bad-offset", "missing", "lab-1", "lab-1", true},
		{"body over the limit", lab1, "PUT", put("lab-1", "syslog", 12), strings.Repeat("x", 8193), stamp, 413, "too-large", "8192", "lab-1", "lab-1", true},
		{"fill the daily quota", lab3, "PUT", put("lab-3", "s", 0), strings.Repeat("q", 7000), stamp, 201, "", "", "lab-3", "lab-3", true},
		{"over quota", lab3, "PUT", put("lab-3", "s", 7000), strings.Repeat("q", 200), stamp, 429, "quota", "daily quota", "lab-3", "lab-3", true},
		{"another host ships on while one is over quota", lab2, "PUT", put("lab-2", "s", 0), "fine\n", stamp, 201, "", "", "lab-2", "lab-2", true},
		{"stale stamp", lab1, "PUT", put("lab-1", "syslog", 12), "x", map[string]string{"X-Cis490-Code-Commit": oldCommit}, 426, "stale-code", "0.3.0", "lab-1", "lab-1", true},
		{"no stamp passes", lab1, "PUT", put("lab-1", "syslog", 12), "n", nil, 201, "", "", "lab-1", "lab-1", true},
		{"unknown commit passes", lab1, "PUT", put("lab-1", "syslog", 13), "u", map[string]string{"X-Cis490-Code-Commit": devCommit}, 201, "", "", "lab-1", "lab-1", true},
		{"accepted older release passes", lab1, "PUT", put("lab-1", "syslog", 14), "m", map[string]string{"X-Cis490-Code-Commit": midCommit}, 201, "", "", "lab-1", "lab-1", true},
		{"stale stamp still heartbeats", lab1, "PUT", "/v1/heartbeat/lab-1", `{"state":"up"}`, map[string]string{"X-Cis490-Code-Commit": oldCommit}, 200, "", "", "lab-1", "lab-1", true},
		{"heartbeat shutdown", lab1, "PUT", "/v1/heartbeat/lab-1", `{"state":"shutdown"}`, stamp, 200, "", "", "lab-1", "lab-1", true},
		{"heartbeat bad state", lab1, "PUT", "/v1/heartbeat/lab-1", `{"state":"napping"}`, stamp, 400, "bad-state", "napping", "lab-1", "lab-1", true},
		{"heartbeat not JSON", lab1, "PUT", "/v1/heartbeat/lab-1", `up`, stamp, 400, "bad-json", "not JSON", "lab-1", "lab-1", true},
		{"heartbeat as another host", lab2, "PUT", "/v1/heartbeat/lab-1", `{}`, stamp, 403, "host-mismatch", "not lab-1", "lab-1", "lab-2", false},
		{"HEAD unknown stream", lab1, "HEAD", "/v1/logs/lab-1/nope", "", stamp, 404, "no-stream", "", "lab-1", "lab-1", true},
		{"gap on a new stream", lab1, "PUT", put("lab-1", "fresh", 5), "x", stamp, 409, "gap", "length 0", "lab-1", "lab-1", true},
		{"a refused write creates no stream", lab1, "HEAD", "/v1/logs/lab-1/fresh", "", stamp, 404, "no-stream", "", "lab-1", "lab-1", true},
		{"HEAD another host's stream", lab2, "HEAD", "/v1/logs/lab-1/syslog", "", stamp, 403, "host-mismatch", "", "lab-1", "lab-2", false},
		{"GET as a host", lab1, "GET", "/v1/logs/lab-1/syslog", "", stamp, 403, "not-admin", "for admins", "lab-1", "lab-1", true},
		{"list as admin", admin, "GET", "/v1/logs/lab-1", "", nil, 200, "", "", "lab-1", "", true},
		{"POST logs", lab1, "POST", put("lab-1", "syslog", 0), "x", stamp, 405, "method", "not allowed", "lab-1", "lab-1", true},
		{"unknown endpoint", lab1, "GET", "/v1/nothing", "", stamp, 404, "not-found", "", "", "lab-1", false},
		{"handler panic", lab1, "PUT", put("lab-1", "boom", 0), "x", stamp, 500, "panic", "internal error", "lab-1", "lab-1", true},
	}
	for _, r := range rows {
		got := f.do(r.c, r.method, r.path, r.body, r.hdr)
		if got.status != r.status {
			t.Errorf("%s: status %d, want %d (body %s)", r.name, got.status, r.status, got.body)
			continue
		}
		if r.method != "HEAD" && got.status >= 400 {
			var e struct {
				Error  string `json:"error"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(got.body), &e); err != nil || e.Error == "" {
				t.Errorf("%s: body %q is not a JSON error", r.name, got.body)
			} else if e.Reason != r.reason {
				t.Errorf("%s: reason %q in the body, want the index's %q", r.name, e.Reason, r.reason)
			} else if !strings.Contains(e.Error, r.errHas) {
				t.Errorf("%s: error %q does not say %q", r.name, e.Error, r.errHas)
			} else if strings.Count(strings.TrimSuffix(e.Error, "."), ". ") > 0 {
				t.Errorf("%s: error %q is more than one sentence", r.name, e.Error)
			}
		}
	}

	lines := f.indexLines()
	if len(lines) != len(rows) {
		t.Fatalf("index has %d lines for %d requests", len(lines), len(rows))
	}
	for i, r := range rows {
		l := lines[i]
		if l.Status != r.status || l.Reason != r.reason || l.Host != r.host || l.CertHost != r.certHost || l.Auth != r.auth || l.Method != r.method {
			t.Errorf("%s: index line %+v; want status %d reason %q host %q cert_host %q auth %v",
				r.name, l, r.status, r.reason, r.host, r.certHost, r.auth)
		}
	}

	// A quota's refusal carries its numbers for the detector's over-quota:
	// 7000 bytes and one append's cost (1 KiB) of a daily 8192.
	for i, r := range rows {
		if r.name == "over quota" {
			if l := lines[i]; l.Quota != "day" || l.QuotaUsed != 7000+store.AppendCost || l.QuotaLimit != 8192 {
				t.Errorf("over quota: index line quota %q used %d limit %d; want day, %d, 8192", l.Quota, l.QuotaUsed, l.QuotaLimit, 7000+store.AppendCost)
			}
		}
	}

	// What was stored is exactly what the accepted requests sent.
	want := map[store.Key]string{
		{Host: "lab-1", Stream: "syslog"}:   "hello\nworld\nnum",
		{Host: "lab-1", Stream: "auth.log"}: "a\n",
		{Host: "lab-2", Stream: "s"}:        "fine\n",
		{Host: "lab-3", Stream: "s"}:        strings.Repeat("q", 7000),
	}
	for k, w := range want {
		b, _, err := f.store.Read(t.Context(), k, 0, 1<<20)
		if err != nil || string(b) != w {
			t.Errorf("stream %s = %q, %v; want %q", k, b, err, w)
		}
	}
	if got := len(f.store.Hosts()); got != 3 {
		t.Errorf("store has %d hosts, want 3 (nothing stored under a refused name)", got)
	}
	if extra := f.unexpectedFiles(); len(extra) > 0 {
		t.Errorf("files written outside the store: %v", extra)
	}
}

func TestHeadAndGet(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	lab1, admin := f.host("lab-1"), f.admin("alice")
	gen := map[string]string{"X-Cis490-Generation": "ino-42:fp-abc", "X-Cis490-Generation-Start": "0"}
	if r := f.do(lab1, "PUT", "/v1/logs/lab-1/app?offset=0", "first gen\n", gen); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	gen2 := map[string]string{"X-Cis490-Generation": "ino-42:fp-def", "X-Cis490-Generation-Start": "10"}
	if r := f.do(lab1, "PUT", "/v1/logs/lab-1/app?offset=10", "second\n", gen2); r.status != 201 || !strings.Contains(r.body, `"length":17`) {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	for _, c := range []cred{lab1, admin} {
		h := f.do(c, "HEAD", "/v1/logs/lab-1/app", "", nil)
		if h.status != 200 || h.header.Get("X-Cis490-Length") != "17" || h.header.Get("X-Cis490-Start") != "0" ||
			h.header.Get("X-Cis490-Generation") != "ino-42:fp-def" || h.header.Get("X-Cis490-Generation-Start") != "10" {
			t.Fatalf("HEAD = %d %v", h.status, h.header)
		}
	}
	g := f.do(admin, "GET", "/v1/logs/lab-1/app?offset=10&limit=3", "", nil)
	if g.status != 200 || g.body != "sec" || g.header.Get("X-Cis490-Offset") != "10" {
		t.Fatalf("GET = %d %q %v", g.status, g.body, g.header)
	}
	l := f.do(admin, "GET", "/v1/logs/lab-1", "", nil)
	if l.status != 200 || !strings.Contains(l.body, `"stream":"app"`) || !strings.Contains(l.body, `"length":17`) {
		t.Fatalf("list = %d %s", l.status, l.body)
	}
}

func TestHealthzNeedsNoCertificate(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.do(cred{}, "GET", "/healthz", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("healthz = %d %s", r.status, r.body)
	}
	if n := len(f.indexLines()); n != 0 {
		t.Fatalf("healthz wrote %d index lines; only /v1/ requests are indexed", n)
	}
}

func TestDiskFullAndOverload(t *testing.T) {
	free := int64(10 << 20)
	f := newFixture(t, fixtureOpts{
		store:  store.Options{MinFree: 10<<20 - 100, FreeSpace: func() (int64, error) { return free, nil }},
		server: Options{MaxBody: 1024, MaxInflight: 1024},
	})
	lab1 := f.host("lab-1")
	if r := f.do(lab1, "PUT", "/v1/logs/lab-1/s?offset=0", strings.Repeat("x", 50), nil); r.status != 201 {
		t.Fatalf("first put = %d %s", r.status, r.body)
	}
	r := f.do(lab1, "PUT", "/v1/logs/lab-1/s?offset=50", strings.Repeat("x", 60), nil)
	if r.status != http.StatusInsufficientStorage || r.header.Get("Retry-After") == "" {
		t.Fatalf("near-full put = %d %v %s; want 507 with Retry-After", r.status, r.header, r.body)
	}
	// Hold the whole body budget with a request whose body never finishes;
	// the next upload is told to come back later instead of queueing forever.
	f.stall(lab1, "/v1/logs/lab-1/s?offset=50", 1024)
	time.Sleep(200 * time.Millisecond)
	r = f.do(lab1, "PUT", "/v1/logs/lab-1/s?offset=50", "z", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("overloaded put = %d %v %s; want 503 with Retry-After", r.status, r.header, r.body)
	}
	// Its index line names the limit that refused it and how full it
	// was: the detector's overload alert quotes them.
	lines := f.indexLines()
	if l := lines[len(lines)-1]; l.Reason != wire.ReasonOverloaded || l.Quota != wire.LimitHostInflight || l.QuotaLimit != 1024 || l.QuotaUsed != 1024 {
		t.Errorf("overloaded put's index line: reason %q quota %q used %d limit %d; want overloaded host-inflight 1024 of 1024", l.Reason, l.Quota, l.QuotaUsed, l.QuotaLimit)
	}
}

// TestIndexReserve: appends stop at min_free, but their 507s are still
// indexed (the detector's evidence) until free space falls to a quarter of
// it; below that every request is refused 507 without a line, so the disk
// never fills.
func TestIndexReserve(t *testing.T) {
	const minFree = 4 << 20
	var free atomic.Int64
	free.Store(64 << 20)
	f := newFixture(t, fixtureOpts{store: store.Options{MinFree: minFree, FreeSpace: func() (int64, error) { return free.Load(), nil }}})
	lab1 := f.host("lab-1")
	for _, c := range []struct {
		free   int64
		status int
		lines  int // index lines after the request
	}{
		{64 << 20, 201, 1},
		{minFree - 1, http.StatusInsufficientStorage, 2},
		{minFree / 4, http.StatusInsufficientStorage, 3},
		{minFree/4 - 1, http.StatusInsufficientStorage, 3},
	} {
		free.Store(c.free)
		time.Sleep(1100 * time.Millisecond) // the store asks the file system at most once a second
		r := f.do(lab1, "PUT", fmt.Sprintf("/v1/logs/lab-1/s?offset=%d", min(c.lines-1, 1)), "x", nil)
		if r.status != c.status || !strings.Contains(r.body, "disk") && c.status != 201 {
			t.Fatalf("PUT with %d bytes free = %d %s; want %d", c.free, r.status, r.body, c.status)
		}
		if n := len(f.indexLines()); n != c.lines {
			t.Fatalf("%d index lines after a PUT with %d bytes free; want %d", n, c.free, c.lines)
		}
	}
	if r := f.do(lab1, "PUT", "/v1/heartbeat/lab-1", `{"state":"up"}`, nil); r.status != http.StatusInsufficientStorage {
		t.Fatalf("heartbeat below the floor = %d %s; want 507", r.status, r.body)
	}
}

// TestCertificateExpiresMidConnection: the per-connection verdict cache never
// outlives the certificate; a keep-alive connection is refused once it has
// expired.
func TestCertificateExpiresMidConnection(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c, k, err := f.ca.IssueHost("lab-1", 1500*time.Millisecond, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lab1 := f.host("lab-1")
	lab1.cert = f.pair(c, k)
	client := f.client(lab1)
	put := func(off int) int {
		req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/logs/lab-1/s?offset=%d", f.url, off), strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+lab1.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := put(0); st != 201 {
		t.Fatalf("first put = %d", st)
	}
	time.Sleep(1600 * time.Millisecond)
	if st := put(1); st != 401 {
		t.Fatalf("put after expiry on the same connection = %d, want 401", st)
	}
	lines := f.indexLines()
	if last := lines[len(lines)-1]; last.Reason != "cert-expired" || last.CertHost != "lab-1" {
		t.Fatalf("last index line %+v; want cert-expired for lab-1", last)
	}
}

func TestChunkedBody(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{MaxBody: 200 << 10}})
	lab1 := f.host("lab-1")
	body := strings.Repeat("0123456789abcdef", 10<<10) // 160 KiB, unknown length
	req, _ := http.NewRequest("PUT", f.url+"/v1/logs/lab-1/s?offset=0", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+lab1.token)
	resp, err := f.client(lab1).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("chunked put = %d", resp.StatusCode)
	}
	got, _, err := f.store.Read(t.Context(), store.Key{Host: "lab-1", Stream: "s"}, 0, 1<<20)
	if err != nil || string(got) != body {
		t.Fatalf("stored %d bytes, %v; want the 160 KiB sent", len(got), err)
	}
	req, _ = http.NewRequest("PUT", f.url+"/v1/logs/lab-1/s?offset=163840", io.MultiReader(strings.NewReader(body+body)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+lab1.token)
	resp, err = f.client(lab1).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked body over the limit = %d, want 413", resp.StatusCode)
	}
}

// TestHostileFieldsAreBounded: whatever a caller without credentials sends,
// its request costs a bounded index line: a 50 KB method (the server takes
// 64 KiB of headers) is recorded as OTHER, long headers are clipped.
func TestHostileFieldsAreBounded(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	long := strings.Repeat("X", 5000)
	r := f.do(cred{}, strings.Repeat("M", 50000), "/v1/logs/lab-1/syslog?offset=0", "x", map[string]string{
		wire.HeaderCommit: long, wire.HeaderInstance: long})
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("a 50 KB method = %d %s; want a 4xx", r.status, r.body)
	}
	lines := f.indexLines()
	if len(lines) != 1 {
		t.Fatalf("%d index lines after %d %s; want the request's one", len(lines), r.status, r.body)
	}
	l := lines[0]
	b, _ := l.MarshalJSON()
	if l.Method != index.MethodOther || len(b) > 1024 {
		t.Fatalf("index line of %d bytes with method %.20q; want method OTHER and a line under 1 KiB", len(b), l.Method)
	}
}

// TestRefusalFloodIsFolded: a flood of requests without credentials from
// one address costs one index line for the first refusal of each minute
// and one line counting the rest, not a line per request; the detector's
// counts still see every request.
func TestRefusalFloodIsFolded(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, fixtureOpts{server: Options{Now: clock}})
	for range 50 {
		if r := f.do(cred{}, "PUT", "/v1/logs/lab-1/syslog?offset=0", "x", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("PUT without credentials = %d %s; want 401", r.status, r.body)
		}
	}
	if lines := f.indexLines(); len(lines) != 1 {
		t.Fatalf("%d index lines for 50 refusals in one minute; want 1 until the minute ends", len(lines))
	}
	f.srv.writeRefusals(clock(), false) // the minute is not over: nothing yet
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	f.srv.writeRefusals(clock(), false)
	lines := f.indexLines()
	if len(lines) != 2 || lines[1].Count != 49 || lines[1].Status != http.StatusUnauthorized || lines[1].Reason != lines[0].Reason {
		t.Fatalf("lines after the minute: %+v; want the first refusal and one line with count 49", lines)
	}
	// A new minute's first refusal has its own line again.
	f.do(cred{}, "PUT", "/v1/logs/lab-1/syslog?offset=0", "x", nil)
	if n := len(f.indexLines()); n != 3 {
		t.Fatalf("%d lines after a refusal in the next minute; want 3", n)
	}
}

// TestPutRecordsALoss: a PUT saying what the shipper lost before its bytes
// has it in its index line; one the receiver cannot read is refused with
// a sentence saying what is wrong, and nothing is stored.
func TestPutRecordsALoss(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	lab1 := f.host("lab-1")
	lost := map[string]string{"X-Cis490-Lost": "bytes=1250000 cause=rotated-away"}
	if r := f.do(lab1, "PUT", "/v1/logs/lab-1/syslog?offset=0", "after the gap\n", lost); r.status != 201 {
		t.Fatalf("put with a loss: %d %s", r.status, r.body)
	}
	bad := map[string]string{"X-Cis490-Lost": "bytes=lots cause=rotated-away"}
	r := f.do(lab1, "PUT", "/v1/logs/lab-1/syslog?offset=14", "more\n", bad)
	if r.status != 400 || !strings.Contains(r.body, `"reason":"bad-lost"`) || !strings.Contains(r.body, "is not a count") {
		t.Fatalf("put with a bad loss: %d %s; want 400 bad-lost saying what is wrong", r.status, r.body)
	}
	lines := f.indexLines()
	if l := lines[len(lines)-2]; l.Lost != 1250000 || l.LostCause != wire.LostRotatedAway || l.Status != 201 {
		t.Errorf("index line of the PUT after a loss: lost %d cause %q status %d", l.Lost, l.LostCause, l.Status)
	}
	if h := f.do(lab1, "HEAD", "/v1/logs/lab-1/syslog", "", nil); h.header.Get("X-Cis490-Length") != "14" {
		t.Errorf("stream length %s after the refused PUT; want 14", h.header.Get("X-Cis490-Length"))
	}
}

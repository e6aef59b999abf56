package receiver

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/metrics"
)

// TestMetricsAccess: /metrics is served to a scraper on the receiver's
// machine, and from elsewhere only to an admin (certificate and token);
// a host's credentials are not enough, and nothing is served without any.
func TestMetricsAccess(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{Metrics: metrics.New(metrics.Options{})}})
	if r := f.do(f.host("lab-1"), http.MethodPut, "/v1/logs/lab-1/syslog?offset=0", "hello\n", nil); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	get := func(c *cred) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "https://receiver.test/metrics", nil)
		req.RemoteAddr = "192.0.2.7:40000" // not this machine
		req.TLS = &tls.ConnectionState{}
		if c != nil {
			leaf, _ := x509.ParseCertificate(c.cert.Certificate[0])
			req.TLS.PeerCertificates = []*x509.Certificate{leaf}
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, req)
		return w
	}
	if w := get(nil); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "cis490_") {
		t.Fatalf("no credentials: %d %s", w.Code, w.Body)
	}
	host := f.host("lab-2")
	if w := get(&host); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "admin") {
		t.Fatalf("a host's credentials: %d %s", w.Code, w.Body)
	}
	admin := f.admin("alice")
	if w := get(&admin); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `cis490_requests_total{code="2xx",endpoint="logs"} 1`) {
		t.Fatalf("an admin: %d %s", w.Code, w.Body)
	}
	// Loopback (the fixture's own client connects from 127.0.0.1).
	resp, err := f.client(cred{}).Get(f.url + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("from this machine: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestMetricsBehindABalancer: behind a balancer every connection comes
// from its address, loopback when it runs on the receiver's machine; the
// loopback exemption goes by the caller the PROXY header names, so a
// scraper elsewhere needs an admin's certificate and token.
func TestMetricsBehindABalancer(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{
		Metrics:   metrics.New(metrics.Options{}),
		ProxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}})
	get := func(c cred, src string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.url+"/metrics", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := f.viaBalancer(c, src).Do(req)
		if err != nil {
			t.Fatalf("GET /metrics from %s: %v", src, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(cred{}, "192.0.2.7:40000"); st != http.StatusUnauthorized || strings.Contains(body, "cis490_") {
		t.Fatalf("a caller elsewhere, through the balancer on loopback, without credentials: %d %s", st, body)
	}
	if st, body := get(f.host("lab-1"), "192.0.2.7:40000"); st != http.StatusForbidden {
		t.Fatalf("a host's credentials through the balancer: %d %s", st, body)
	}
	if st, body := get(f.admin("alice"), "192.0.2.7:40000"); st != http.StatusOK || !strings.Contains(body, "cis490_") {
		t.Fatalf("an admin through the balancer: %d %s", st, body)
	}
	if st, body := get(cred{}, "127.0.0.1:40000"); st != http.StatusOK {
		t.Fatalf("a scraper on the receiver's machine through the balancer: %d %s", st, body)
	}
}

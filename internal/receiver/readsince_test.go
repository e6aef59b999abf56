package receiver

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReadSince: ?since= takes a duration before the receiver's clock or
// an RFC 3339 time; anything else, or with ?offset=, is a 400 that says
// what to send.
func TestReadSince(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if r := f.do(f.host("lab-1"), http.MethodPut, "/v1/logs/lab-1/syslog?offset=0", "hello\n", nil); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	admin := f.admin("alice")
	for _, c := range []struct {
		query  string
		status int
		body   string
	}{
		{"since=1h", 200, "hello\n"},
		{"since=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), 200, "hello\n"},
		{"since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 200, ""},
		{"since=yesterday", 400, "neither a duration like 2h nor a time"},
		{"since=-5m", 400, "neither a duration"},
		{"since=1h&offset=0", 400, "offset or since, not both"},
	} {
		r := f.do(admin, http.MethodGet, "/v1/logs/lab-1/syslog?"+c.query, "", nil)
		if r.status != c.status || !strings.Contains(r.body, c.body) || (c.status == 200 && r.body != c.body) {
			t.Errorf("%s: %d %q; want %d %q", c.query, r.status, r.body, c.status, c.body)
		}
	}
}

package receiver

import (
	"net/url"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/names"
)

// FuzzRequestTarget feeds arbitrary request targets through the route and
// offset parsing: no panic, and whatever is accepted is a canonical host and
// a valid stream that cannot name a path outside the store.
func FuzzRequestTarget(f *testing.F) {
	for _, s := range []string{
		"/v1/logs/lab-1/syslog?offset=0",
		"/v1/logs/LAB-1/auth.log?offset=12",
		"/v1/logs/../syslog?offset=0",
		"/v1/logs/%2e%2e/x?offset=1",
		"/v1/logs/lab-1/..%2f..%2fetc?offset=-1",
		"/v1/logs/lab-1/a%00b?offset=99999999999999999999",
		"/v1/heartbeat/lab-1",
		"/v1/logs/lab-%E2%84%AA/x?offset=+1",
		"/v1/logs/lab-1/x/y?offset=0x10",
		"/v1//logs?offset=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		path, query, _ := strings.Cut(target, "?")
		rt := parseRoute(path)
		if q, err := url.ParseQuery(query); err == nil {
			if off, aerr := parseOffset(q); aerr == nil && off < 0 {
				t.Fatalf("negative offset %d accepted from %q", off, query)
			}
		}
		if rt.err != nil {
			if rt.err.status >= 500 {
				t.Fatalf("bad input %q answered %d", target, rt.err.status)
			}
			return
		}
		if rt.host != "" {
			if h, err := names.Host(rt.host); err != nil || h != rt.host {
				t.Fatalf("accepted host %q from %q is not canonical", rt.host, target)
			}
		}
		if rt.stream != "" {
			if names.Stream(rt.stream) != nil || strings.Contains(rt.stream, "/") || strings.HasPrefix(rt.stream, ".") {
				t.Fatalf("accepted stream %q from %q", rt.stream, target)
			}
		}
		if strings.Contains(rt.host+rt.stream, "%") {
			t.Fatalf("an escape survived into a name from %q", target)
		}
	})
}

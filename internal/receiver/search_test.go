package receiver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// searchReply is a search's answer, line by line.
type searchReply struct {
	hits    []map[string]any
	summary map[string]any
	errs    []string
}

func readSearch(t *testing.T, body string) searchReply {
	t.Helper()
	var out searchReply
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a search answer line is not JSON: %q", sc.Text())
		}
		switch m["kind"] {
		case "hit":
			out.hits = append(out.hits, m)
		case "summary":
			out.summary = m
		default:
			out.errs = append(out.errs, sc.Text())
		}
		if e, ok := m["error"].(string); ok && e != "" {
			out.errs = append(out.errs, e)
		}
	}
	return out
}

// TestSearchEndpoint: an admin's search streams the matching lines of
// every host, then a summary; hosts may not search; bad input is a 400
// that says what to fix; the search is recorded in the index.
func TestSearchEndpoint(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, h := range []string{"lab-1", "lab-2"} {
		body := fmt.Sprintf("%s: boot\n%s kernel: Out of memory: killed 42\n%s: ok\n", h, h, h)
		// Two PUTs cutting the second line in the middle of a word.
		if r := f.do(f.host(h), http.MethodPut, "/v1/logs/"+h+"/syslog?offset=0", body[:20], nil); r.status != 201 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		if r := f.do(f.host(h), http.MethodPut, "/v1/logs/"+h+"/syslog?offset=20", body[20:], nil); r.status != 201 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	admin := f.admin("alice")
	r := f.do(admin, http.MethodGet, "/v1/search?q="+url.QueryEscape("out of memory")+"&i=1", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("search: %d %s %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	got := readSearch(t, r.body)
	if len(got.hits) != 2 || got.summary == nil || got.summary["hits"] != 2.0 || len(got.errs) != 0 {
		t.Fatalf("search answered %q; want 2 hits and a summary", r.body)
	}
	for i, h := range []string{"lab-1", "lab-2"} {
		hit := got.hits[i]
		if hit["host"] != h || hit["stream"] != "syslog" || hit["line"] != h+" kernel: Out of memory: killed 42" || hit["offset"] != float64(len(h)+7) {
			t.Errorf("hit %d: %v", i, hit)
		}
		if at, err := time.Parse(time.RFC3339Nano, hit["time"].(string)); err != nil || time.Since(at) > time.Minute {
			t.Errorf("hit %d's time %v (%v); want when it came", i, hit["time"], err)
		}
	}

	if r := f.do(f.host("lab-1"), http.MethodGet, "/v1/search?q=memory", "", nil); r.status != 403 {
		t.Errorf("a host's search: %d %s; want 403", r.status, r.body)
	}
	for _, c := range []struct{ query, want string }{
		{"q=", "the pattern is empty"},
		{"q=" + strings.Repeat("x", 2000), "longer than 1024 bytes"},
		{"q=a(&mode=regex", "does not parse"},
		{"q=.*&mode=regex", "no literal text"},
		{"q=x&mode=fuzzy", "not words, substring or regex"},
		{"q=x&hosts=[", "malformed"},
		{"q=x&since=1h&until=2h", "runs backwards"},
		{"q=x&since=yesterday", "neither a duration"},
		{"q=x&limit=-1", "non-negative"},
		{"q=x&cursor=nonsense", "not one a search returned"},
	} {
		r := f.do(admin, http.MethodGet, "/v1/search?"+c.query, "", nil)
		if r.status != 400 || !strings.Contains(r.body, c.want) || !strings.Contains(r.body, `"reason":"bad-search"`) {
			t.Errorf("%.40s: %d %s; want 400 saying %q", c.query, r.status, r.body, c.want)
		}
	}
	if r := f.do(admin, http.MethodGet, "/v1/search?q=.*&mode=regex&since=2h", "", nil); r.status != 200 {
		t.Errorf("a regexp with no literal over 2 h: %d %s; want it run", r.status, r.body)
	}

	var recorded int
	for _, l := range f.indexLines() {
		if l.Endpoint == EPSearch && l.Admin == "alice" && l.Status == 200 {
			recorded++
			if l.Bytes <= 0 {
				t.Errorf("the search's index line %+v does not count the bytes scanned", l)
			}
			switch l.Pattern {
			case "out of memory":
				if l.SearchMode != "words+i" || l.Window != "" {
					t.Errorf("the first search's line says %q %q; want words+i, no window", l.SearchMode, l.Window)
				}
			case ".*":
				if l.SearchMode != "regex" || !strings.HasSuffix(l.Window, "Z/") {
					t.Errorf("the regexp search's line says %q, window %q; want regex, since a time and no until", l.SearchMode, l.Window)
				}
			default:
				t.Errorf("a search's line records the pattern %q", l.Pattern)
			}
		}
	}
	if recorded != 2 {
		t.Errorf("%d searches recorded in the index; want 2", recorded)
	}
}

// putNeedles has lab-1 store n lines "line i: needle i" in app.log.
func (f *fixture) putNeedles(n int) {
	f.t.Helper()
	var body strings.Builder
	for i := range n {
		fmt.Fprintf(&body, "line %d: needle %d\n", i, i)
	}
	if r := f.do(f.host("lab-1"), http.MethodPut, "/v1/logs/lab-1/app.log?offset=0", body.String(), nil); r.status != 201 {
		f.t.Fatalf("put: %d %s", r.status, r.body)
	}
}

// TestSearchPages: a limit ends a search with a cursor; searching on from
// it finds the rest, each line once.
func TestSearchPages(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.putNeedles(25)
	admin := f.admin("alice")
	var lines []string
	cursor := ""
	for page := 0; page < 10; page++ {
		r := f.do(admin, http.MethodGet, "/v1/search?q=needle&limit=10&cursor="+url.QueryEscape(cursor), "", nil)
		got := readSearch(t, r.body)
		if r.status != 200 || got.summary == nil {
			t.Fatalf("page %d: %d %s", page, r.status, r.body)
		}
		for _, h := range got.hits {
			lines = append(lines, h["line"].(string))
		}
		if got.summary["limited"] != true {
			break
		}
		cursor = got.summary["cursor"].(string)
	}
	if len(lines) != 25 || lines[0] != "line 0: needle 0" || lines[24] != "line 24: needle 24" {
		t.Fatalf("pages of 10 found %d lines (%q…); want the 25, once each", len(lines), lines[:min(3, len(lines))])
	}
}

// TestSearchBusy: beyond MaxSearches running at once, a search is
// answered 429 with Retry-After.
func TestSearchBusy(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{MaxSearches: 1}})
	f.srv.searches <- struct{}{} // one running
	r := f.do(f.admin("alice"), http.MethodGet, "/v1/search?q=x", "", nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "search-busy") {
		t.Fatalf("a search beyond the limit: %d %s; want 429 with Retry-After", r.status, r.body)
	}
	<-f.srv.searches
	if r := f.do(f.admin("alice"), http.MethodGet, "/v1/search?q=x", "", nil); r.status != 200 {
		t.Fatalf("a search once one ended: %d %s", r.status, r.body)
	}
}

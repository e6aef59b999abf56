package receiver

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/dashboard"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/token"
)

// newUIFixture is a receiver serving the dashboard, as receiverd wires it:
// the dashboard searches through the server's Search.
func newUIFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	var f *fixture
	opt.Dashboard = func(adminCert func(*http.Request) (string, bool), search SearchFunc) http.Handler {
		ui, err := dashboard.New(dashboard.Options{DataDir: t.TempDir(), AdminCert: adminCert, Search: search,
			Fleet: func(context.Context, time.Time) (*fleethealth.View, error) { return &fleethealth.View{}, nil },
			AdminToken: func(sum [32]byte) (string, bool) {
				e, ok := f.srv.opt.Tokens.LookupSum(sum)
				return e.Name, ok && e.Kind == token.KindAdmin
			}})
		if err != nil {
			t.Fatal(err)
		}
		return ui
	}
	f = newFixture(t, fixtureOpts{server: opt})
	return f
}

// page asks for a dashboard page as a browser would: c's certificate (if
// any), the cookie (if any), no bearer token, redirects not followed.
func (f *fixture) page(c cred, cookie, path string) reply {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	cl := f.client(cred{cert: c.cert})
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer cl.CloseIdleConnections()
	resp, err := cl.Do(req)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

// searchLines are the index lines of searches so far.
func (f *fixture) searchLines() []index.Line {
	var out []index.Line
	for _, l := range f.indexLines() {
		if l.Endpoint == EPSearch {
			out = append(out, l)
		}
	}
	return out
}

var (
	hitRow  = regexp.MustCompile(`(?s)<tr class="hit"><td><a href="/ui/host/([^"]+)">[^<]*</a></td><td>([^<]*)</td><td>(\d+)</td><td>[^<]*</td><td class="line">(.*?)</td></tr>`)
	moreRef = regexp.MustCompile(`id="more" href="([^"]+)"`)
)

// TestDashboardSearch: an admin (certificate or session) searches every
// host's logs from the dashboard and sees each host's lines, escaped,
// then the summary; a host or a browser without a session sees nothing;
// a bad pattern shows its sentence with 400; busy shows 429's; each
// search is one index line naming the admin.
func TestDashboardSearch(t *testing.T) {
	f := newUIFixture(t, Options{MaxSearches: 1})
	for _, h := range []string{"lab-1", "lab-2"} {
		body := fmt.Sprintf("%s: boot\n%s kernel: Out of memory: killed <pid 42> & more\n%s: ok\n", h, h, h)
		if r := f.do(f.host(h), http.MethodPut, "/v1/logs/"+h+"/syslog?offset=0", body, nil); r.status != 201 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	admin := f.admin("alice")
	r := f.page(admin, "", "/ui/search?q="+url.QueryEscape("out of memory")+"&i=1")
	rows := hitRow.FindAllStringSubmatch(r.body, -1)
	if r.status != 200 || len(rows) != 2 {
		t.Fatalf("an admin's search: %d, %d rows\n%s", r.status, len(rows), r.body)
	}
	for i, h := range []string{"lab-1", "lab-2"} {
		if rows[i][1] != h || rows[i][2] != "syslog" || rows[i][3] != fmt.Sprint(len(h)+7) ||
			rows[i][4] != h+" kernel: Out of memory: killed &lt;pid 42&gt; &amp; more" {
			t.Errorf("row %d: %q", i, rows[i][1:])
		}
	}
	if !strings.Contains(r.body, `<p id="summary">2 hits in 2 streams`) || !strings.Contains(r.body, "complete</p>") ||
		!strings.Contains(r.body, `value="out of memory"`) || strings.Contains(r.body, `id="more"`) {
		t.Errorf("the summary or the form:\n%s", r.body)
	}
	lines := f.searchLines()
	if len(lines) != 1 || lines[0].Admin != "alice" || lines[0].Method != http.MethodGet || lines[0].Status != 200 ||
		lines[0].Bytes <= 0 || lines[0].Remote == "" || !lines[0].Auth {
		t.Fatalf("the dashboard's search in the index: %+v; want one line naming alice with the bytes scanned", lines)
	}

	// A session opened with the admin's token searches too.
	cl := f.client(cred{})
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	login, err := cl.PostForm(f.url+"/ui/login", url.Values{"token": {admin.token}})
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	var cookie string
	for _, c := range login.Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	if r := f.page(cred{}, cookie, "/ui/search?q=memory"); r.status != 200 || len(hitRow.FindAllString(r.body, -1)) != 2 {
		t.Errorf("a session's search: %d\n%s", r.status, r.body)
	}

	// No admin: the login page's redirect, never a line.
	for name, c := range map[string]cred{"a host's certificate": f.host("lab-1"), "no session": {}} {
		if r := f.page(c, "", "/ui/search?q=memory"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/login" || strings.Contains(r.body, "killed") {
			t.Errorf("%s: %d %s %q", name, r.status, r.header.Get("Location"), r.body)
		}
	}

	r = f.page(admin, "", "/ui/search?q=a(&mode=regex")
	if r.status != 400 || !strings.Contains(r.body, `id="search-error"`) || !strings.Contains(r.body, "does not parse") || strings.Contains(r.body, `id="hits"`) {
		t.Errorf("a bad regexp: %d\n%s", r.status, r.body)
	}
	f.srv.searches <- struct{}{} // one running
	r = f.page(admin, "", "/ui/search?q=memory")
	<-f.srv.searches
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "retry in a few seconds") {
		t.Errorf("a search while busy: %d %v\n%s", r.status, r.header, r.body)
	}
	lines = f.searchLines()
	if len(lines) != 4 || lines[1].Admin != "alice" || lines[2].Status != 400 || lines[2].Reason != "bad-search" || lines[3].Status != 429 || lines[3].Admin != "alice" {
		t.Errorf("searches in the index: %+v; want 4 (certificate, session, 400, 429)", lines)
	}
	// The page alone, nothing asked: the form, no search.
	if r := f.page(admin, "", "/ui/search"); r.status != 200 || !strings.Contains(r.body, `<form class="filter searchform"`) || len(f.searchLines()) != 4 {
		t.Errorf("the empty search page: %d; searched: %d", r.status, len(f.searchLines()))
	}
}

// TestDashboardSearchMore: a search cut short by its limit links on with
// its cursor; following the links finds every line once.
func TestDashboardSearchMore(t *testing.T) {
	f := newUIFixture(t, Options{})
	f.putNeedles(25)
	admin := f.admin("alice")
	var lines []string
	path := "/ui/search?q=needle&limit=10"
	for page := 0; path != ""; page++ {
		if page == 5 {
			t.Fatal("the more links do not end")
		}
		r := f.page(admin, "", path)
		if r.status != 200 {
			t.Fatalf("page %d: %d\n%s", page, r.status, r.body)
		}
		for _, row := range hitRow.FindAllStringSubmatch(r.body, -1) {
			lines = append(lines, row[4])
		}
		path = ""
		if m := moreRef.FindStringSubmatch(r.body); m != nil {
			if !strings.Contains(r.body, "<strong>cut short</strong>") {
				t.Errorf("page %d links on but does not say it was cut short", page)
			}
			path = html.UnescapeString(m[1])
		}
	}
	if len(lines) != 25 || lines[0] != "line 0: needle 0" || lines[24] != "line 24: needle 24" {
		t.Fatalf("pages of 10 found %d lines (%q…); want the 25, once each", len(lines), lines[:min(3, len(lines))])
	}
}

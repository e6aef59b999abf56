package dashboard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/search"
)

// TestSearchPageStreams: the search page shows the head and each line as
// the search finds it, before the search ends; then the summary. Every
// page's header has the search box; the page asks at most 200 lines.
func TestSearchPageStreams(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "bob")
	release := make(chan struct{})
	var asked url.Values
	u.opt.Search = func(ctx context.Context, admin, remote string, q url.Values, start func(), emit func(search.Result) error) (search.Summary, error) {
		asked = q
		if admin != "bob" || remote == "" {
			t.Errorf("searched as %q from %q", admin, remote)
		}
		start()
		if err := emit(search.Result{Host: "lab-1", Stream: "syslog", Offset: 7, Time: now, Line: "kernel: " + strings.Repeat("x", 5000)}); err != nil {
			return search.Summary{}, err
		}
		select { // a search still running: the line must be on screen already
		case <-release:
		case <-ctx.Done():
		}
		return search.Summary{Hits: 1, Streams: 3, BytesScanned: 3 << 20, BytesSkipped: 5 << 20}, nil
	}
	srv := httptest.NewServer(u)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/search?q=kernel&limit=5000", nil)
	req.Header.Set("X-Test-Cert", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := make(chan string, 1)
	go func() {
		br := bufio.NewReader(resp.Body)
		var got strings.Builder
		for {
			l, err := br.ReadString('\n')
			got.WriteString(l)
			if strings.Contains(l, `<tr class="hit">`) || err != nil {
				seen <- got.String()
				return
			}
		}
	}()
	select {
	case head := <-seen:
		if !strings.Contains(head, `<a href="/ui/host/lab-1">lab-1</a>`) || !strings.Contains(head, "2026-11-27 12:00:00") || !strings.Contains(head, `<td class="line">kernel: xxx`) {
			t.Fatalf("the first line shown:\n%s", head)
		}
	case <-time.After(time.Second):
		t.Fatal("the first line was not on the page within a second of being found")
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(rest), `<p id="summary">1 hit in 3 streams · 3.0 MiB scanned, 5.0 MiB skipped`) || !strings.Contains(string(rest), "complete</p>") {
		t.Errorf("the summary:\n%s", rest)
	}
	if asked.Get("limit") != "200" || asked.Get("q") != "kernel" {
		t.Errorf("the search asked %v; want at most 200 lines", asked)
	}
	// release is closed: these searches end at once.
	for _, c := range []struct{ query, limit string }{{"q=x", "200"}, {"q=x&limit=10", "10"}, {"q=x&limit=0", "200"}, {"q=x&limit=ten", "ten"}} {
		do(u, http.MethodGet, "/ui/search?"+c.query, "", map[string]string{"X-Test-Cert": "yes"})
		if asked.Get("limit") != c.limit {
			t.Errorf("%s asked limit %q; want %q", c.query, asked.Get("limit"), c.limit)
		}
	}
	body := do(u, http.MethodGet, "/ui/alerts", "", map[string]string{"X-Test-Cert": "yes"}).Body.String()
	if !strings.Contains(body, `<form class="search" method="get" action="/ui/search"`) {
		t.Errorf("no search box in the alerts page's header:\n%s", body)
	}
}

// TestSearchMorePinsTheWindow: the "more" link of a search cut short
// carries its cursor and its window as times, so the next page searches
// the same window, not one counted back from a later moment.
func TestSearchMorePinsTheWindow(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "bob")
	u.opt.Search = func(ctx context.Context, admin, remote string, q url.Values, start func(), emit func(search.Result) error) (search.Summary, error) {
		start()
		return search.Summary{Hits: 200, Limited: true, Cursor: "C1"}, nil
	}
	body := do(u, http.MethodGet, "/ui/search?q=kernel&since=2h&until=30m", "", map[string]string{"X-Test-Cert": "yes"}).Body.String()
	want := url.Values{"q": {"kernel"}, "since": {"2026-11-27T10:00:00Z"}, "until": {"2026-11-27T11:30:00Z"}, "cursor": {"C1"}, "limit": {"200"}}
	i := strings.Index(body, `href="/ui/search?`)
	if i < 0 {
		t.Fatalf("no link to more:\n%s", body)
	}
	link := body[i+len(`href="/ui/search?`):]
	link = strings.ReplaceAll(link[:strings.IndexByte(link, '"')], "&amp;", "&")
	got, err := url.ParseQuery(link)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got.Get(k) != v[0] {
			t.Errorf("the more link's %s is %q; want %q (link %s)", k, got.Get(k), v[0], link)
		}
	}
}

// busyRefusal is a search refused for want of a slot.
type busyRefusal struct{}

func (busyRefusal) Error() string                { return "2 searches are running; retry in a few seconds" }
func (busyRefusal) Refused() (status, retry int) { return http.StatusTooManyRequests, 5 }

// TestSearchPageRefusals: a pattern asked empty is the search's to refuse
// (only the bare page is the form, nothing asked); a busy refusal is its
// status and sentence, and the page asks again, the same URL, when the
// receiver says to.
func TestSearchPageRefusals(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "bob")
	var asked []url.Values
	u.opt.Search = func(ctx context.Context, admin, remote string, q url.Values, start func(), emit func(search.Result) error) (search.Summary, error) {
		asked = append(asked, q)
		return search.Summary{}, busyRefusal{}
	}
	cert := map[string]string{"X-Test-Cert": "yes"}
	if r := do(u, http.MethodGet, "/ui/search", "", cert); r.Code != http.StatusOK || len(asked) != 0 || strings.Contains(r.Body.String(), "refresh") {
		t.Fatalf("the bare page: %d, %d searches\n%s", r.Code, len(asked), r.Body)
	}
	r := do(u, http.MethodGet, "/ui/search?q=&mode=regex", "", cert)
	body := r.Body.String()
	if len(asked) != 1 || !asked[0].Has("q") || asked[0].Get("mode") != "regex" {
		t.Errorf("an empty pattern asked %v; want it left to the search", asked)
	}
	if r.Code != http.StatusTooManyRequests || r.Header().Get("Retry-After") != "5" || !strings.Contains(body, `<meta http-equiv="refresh" content="5">`) ||
		!strings.Contains(body, `id="search-error">2 searches are running; retry in a few seconds<`) || strings.Contains(body, `id="hits"`) {
		t.Errorf("a busy refusal: %d %v\n%s", r.Code, r.Header(), body)
	}
}

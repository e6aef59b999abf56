package integration

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cis490/cis490/internal/testenv"
)

// TestDashboardSearchPages drives the dashboard's search page in headless
// Chromium against a receiver holding two hosts' shipped lines. What the
// receiver refuses (an empty pattern, a regexp that does not parse, a
// malformed host glob, a window run backwards, a regexp with no literal
// over two days) is its one sentence on the page with a 400, never a
// line. A search of more lines than a page holds links on: followed, the
// links show every line once, in order, and the window stays where the
// first page put it (lines shipped meanwhile are after it). Both search
// slots taken (by API clients that read nothing), following a link is
// the receiver's busy sentence with a 429, and the page asks again by
// itself, the cursor kept, once a slot is free.
func TestDashboardSearchPages(t *testing.T) {
	testenv.Require(t, testenv.Chromium())
	f := newFleet(t, []string{"lab-a", "lab-b"}, true)
	f.rcv.Start()
	base := f.rcv.URL()

	offset := map[string]int64{}
	ship := func(h, stream string, lines []string) []string {
		t.Helper()
		body := strings.Join(lines, "\n") + "\n"
		r := f.hosts[h].do(http.MethodPut, h, stream, "offset="+itoa(offset[h+"/"+stream]), strings.NewReader(body), int64(len(body)))
		if r.status != http.StatusCreated {
			t.Fatalf("%s's %s: %d %v", h, stream, r.status, r.err)
		}
		offset[h+"/"+stream] += int64(len(body))
		return lines
	}
	needles := func(h, tag string, n int) (lines []string) {
		for i := range n {
			lines = append(lines, fmt.Sprintf("%s needle %s%03d", h, tag, i))
		}
		return ship(h, "syslog", lines)
	}
	// Every needle line shipped before the search, in the order it finds them.
	planted := append(needles("lab-a", "", 250), needles("lab-b", "", 200)...)
	// And hay: more lines to find than a client that reads nothing lets
	// the receiver send (its socket buffers, 4 MiB at most, and ours).
	var hay []string
	for i := range 200 {
		hay = append(hay, fmt.Sprintf("haystack %03d %s", i, strings.Repeat("x", 32<<10)))
	}
	ship("lab-a", "bulk", hay)
	ship("lab-b", "bulk", hay)

	// apiSearch asks GET /v1/search as the admin's API client: the status
	// and the error's sentence.
	apiSearch := func(v url.Values) (int, string) {
		t.Helper()
		status, b := f.admin.get(t, "/v1/search?"+v.Encode())
		var e struct{ Error string }
		if status != http.StatusOK {
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Fatalf("GET /v1/search?%s: %d %q", v.Encode(), status, b)
			}
		}
		return status, e.Error
	}

	ctx, run, get := newBrowser(t)
	run(chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), f.admin.token), chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("fleet")))
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// textOf is the text of the element with this id, "" if there is
	// none (never waiting for one).
	textOf := func(id string) string {
		t.Helper()
		return strings.Join(eval(`[...document.querySelectorAll('#`+id+`')].map(e => e.innerText)`), "\n")
	}
	shown := func() []string {
		t.Helper()
		return eval(`[...document.querySelectorAll('tr.hit td.line')].map(td => td.innerText)`)
	}
	// follow takes a step that loads a page (a click) and returns the
	// status it was answered.
	follow := func(step chromedp.Action[chromedp.Void]) int64 {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, step)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	// searchForm fills the search page's form, as a person would, and
	// sends it: the status it was answered.
	searchForm := func(v url.Values) int64 {
		t.Helper()
		run(chromedp.Navigate(base+"/ui/search"), chromedp.WaitVisible(chromedp.CSS("form.searchform")))
		for _, k := range []string{"q", "hosts", "since", "until"} { // empty on a new page
			if v.Get(k) != "" {
				run(chromedp.SendKeys(chromedp.CSS(`form.searchform input[name="`+k+`"]`), v.Get(k)))
			}
		}
		run(chromedp.SetValue(chromedp.CSS(`form.searchform select[name="mode"]`), cmp.Or(v.Get("mode"), "words")))
		return follow(chromedp.Click(chromedp.CSS(`form.searchform button[type="submit"]`)))
	}

	// Refusals: the receiver's sentence, as its API gives it, and no line.
	for _, c := range []struct {
		name string
		v    url.Values
	}{
		{"an empty pattern", url.Values{"q": {""}}},
		{"a regexp that does not parse", url.Values{"q": {"("}, "mode": {"regex"}}},
		{"a malformed host glob", url.Values{"q": {"needle"}, "hosts": {"["}}},
		{"a window run backwards", url.Values{"q": {"needle"}, "since": {"1h"}, "until": {"2h"}}},
		{"a regexp with no literal over two days", url.Values{"q": {`[0-9]+$`}, "mode": {"regex"}, "since": {"48h"}}},
	} {
		apiStatus, want := apiSearch(c.v)
		status := searchForm(c.v)
		msg, kept := textOf("search-error"), get(chromedp.Value(chromedp.CSS(`form.searchform input[name="q"]`)))
		if apiStatus != http.StatusBadRequest || status != http.StatusBadRequest || msg != want || len(shown()) != 0 || textOf("hits") != "" {
			t.Errorf("%s: the page answered %d showing %q, %d lines and hits %q; the API %d %q", c.name, status, msg, len(shown()), textOf("hits"), apiStatus, want)
		}
		if kept != c.v.Get("q") {
			t.Errorf("%s: the form holds the pattern %q; want %q kept to correct", c.name, kept, c.v.Get("q"))
		}
	}

	// More lines than a page holds, in a window that ends now ("0s").
	if status := searchForm(url.Values{"q": {"needle"}, "since": {"1h"}, "until": {"0s"}}); status != http.StatusOK {
		t.Fatalf("searching for needle: %d", status)
	}
	asked := time.Now()
	var got []string
	for page := 1; ; page++ {
		run(chromedp.WaitVisible(chromedp.ID("summary")))
		got = append(got, shown()...)
		sum := get(chromedp.Text(chromedp.ID("summary")))
		more := eval(`[...document.querySelectorAll('#more')].map(a => a.getAttribute('href'))`)
		if len(more) == 0 {
			if !strings.Contains(sum, "complete") {
				t.Errorf("page %d, the last, says %q", page, sum)
			}
			break
		}
		if page == 4 {
			t.Fatal("the more links do not end")
		}
		if !strings.Contains(sum, "cut short") {
			t.Errorf("page %d links on but says %q", page, sum)
		}
		if page > 1 {
			if s := follow(chromedp.Click(chromedp.ID("more"))); s != http.StatusOK {
				t.Fatalf("page %d's more: %d", page, s)
			}
			continue
		}
		// The window is the first page's, as times.
		link, err := url.Parse(more[0])
		if err != nil {
			t.Fatal(err)
		}
		since, serr := time.Parse(time.RFC3339, link.Query().Get("since"))
		until, uerr := time.Parse(time.RFC3339, link.Query().Get("until"))
		if serr != nil || uerr != nil || until.Sub(since) != time.Hour || until.After(asked) || asked.Sub(until) > 10*time.Second {
			t.Errorf("the more link's window: %s (%v, %v); want the hour before %s", more[0], serr, uerr, asked.Format(time.RFC3339Nano))
		}
		// Lines shipped now are after the window: they show on no page.
		needles("lab-a", "late ", 3)
		needles("lab-b", "late ", 3)

		// Busy: two API searches whose client reads nothing hold both
		// slots, waiting to send the rest of the hay.
		var held []*http.Response
		for range 2 {
			req, _ := http.NewRequest(http.MethodGet, base+"/v1/search?q=haystack", nil)
			req.Header.Set("Authorization", "Bearer "+f.admin.token)
			resp, err := f.admin.hc.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("a search holding a slot: %v %v", resp, err)
			}
			held = append(held, resp)
		}
		apiStatus, want := apiSearch(url.Values{"q": {"needle"}})
		status := follow(chromedp.Click(chromedp.ID("more")))
		msg, retry := textOf("search-error"), textOf("search-retry")
		refresh := eval(`[...document.querySelectorAll('meta[http-equiv="refresh"]')].map(m => m.content)`)
		if apiStatus != http.StatusTooManyRequests || status != http.StatusTooManyRequests || msg != want || len(shown()) != 0 ||
			!slices.Equal(refresh, []string{"5"}) || !strings.Contains(retry, "5 seconds") {
			t.Errorf("following more while busy: %d %q, retry %q, refresh %q, %d lines; the API %d %q",
				status, msg, retry, refresh, len(shown()), apiStatus, want)
		}
		for _, resp := range held {
			resp.Body.Close()
		}
		// The page asks again by itself (page 2, not page 1 again).
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.ID("summary")))
		cancel()
		if err != nil {
			t.Fatalf("the busy page did not ask again within 10 s, its slots free: %v", err)
		}
	}
	if !slices.Equal(got, planted) {
		i := 0
		for i < min(len(got), len(planted)) && got[i] == planted[i] {
			i++
		}
		t.Fatalf("the pages showed %d lines, the first %d as planted, then %q; want the %d planted, once each, in order, then nothing",
			len(got), i, got[i:min(i+3, len(got))], len(planted))
	}
}

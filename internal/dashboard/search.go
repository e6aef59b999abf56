package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/search"
)

// perPage bounds the lines a search page shows: the rest is a click on
// "more" away, and a browser need not hold a million rows.
const perPage = 200

// refusal is a search the receiver refused before it ran
// (receiver.SearchError): the status to answer, the seconds to wait.
type refusal interface {
	error
	Refused() (status, retryAfter int)
}

// searchForm is the search page's form, as asked.
type searchForm struct {
	Q, Mode, Hosts, Streams, Since, Until string
	I                                     bool
}

// searchPage answers /ui/search: the form, then the matching lines as
// they are found, then the summary and, when cut short, a link on.
func (u *UI) searchPage(w http.ResponseWriter, r *http.Request, admin string) {
	q := r.URL.Query()
	form := searchForm{Q: q.Get("q"), Mode: q.Get("mode"), Hosts: q.Get("hosts"), Streams: q.Get("streams"),
		Since: q.Get("since"), Until: q.Get("until"), I: q.Get("i") == "1" || q.Get("i") == "true"}
	if form.Mode == "" {
		form.Mode = "words"
	}
	data := map[string]any{"Title": "Search", "Admin": admin, "SearchQ": form.Q, "Form": form,
		"Modes": []string{"words", "substring", "regex"}, "PerPage": perPage}
	if !q.Has("q") && q.Get("cursor") == "" {
		// The form, nothing asked yet. A pattern asked empty is the
		// receiver's to refuse, with its sentence.
		u.render(w, http.StatusOK, "search", data)
		return
	}
	if u.opt.Search == nil {
		data["Error"] = "This dashboard was started without a search."
		u.render(w, http.StatusNotImplemented, "search", data)
		return
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && (n <= 0 || n > perPage) || q.Get("limit") == "" {
		q.Set("limit", strconv.Itoa(perPage)) // a malformed limit is left for the search's 400
	}

	t := u.pages["search"]
	rc := http.NewResponseController(w)
	started := false
	var werr error // the first write that failed: the browser went
	exec := func(name string, v any) {
		if werr == nil {
			werr = t.ExecuteTemplate(w, name, v)
		}
	}
	// Each part goes out as soon as it is written: the head before the
	// search reads anything, each line as it is found.
	flush := func() {
		if werr == nil {
			werr = rc.Flush()
		}
	}
	start := func() {
		started = true
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		data["Searching"] = true
		exec("top", data)
		exec("search-head", data)
		flush()
	}
	searched := u.opt.Now() // the moment a duration in the window counts back from
	sum, err := u.opt.Search(r.Context(), admin, r.RemoteAddr, q, start, func(res search.Result) error {
		exec("hit", res)
		flush()
		return werr
	})
	if !started {
		status, retry := http.StatusServiceUnavailable, 0
		var ref refusal
		if errors.As(err, &ref) {
			status, retry = ref.Refused()
		}
		if retry > 0 {
			// Busy: the page asks again by itself when the receiver says
			// to, the same URL (a "more" page's cursor kept, which the
			// form would drop).
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			data["Refresh"] = retry
		}
		data["Error"] = errorText(err)
		u.render(w, status, "search", data)
		return
	}
	foot := map[string]any{"Summary": sum, "Count": q.Get("count") == "1" || q.Get("count") == "true"}
	if err != nil && !errors.Is(err, context.Canceled) {
		foot["Note"] = err.Error()
	}
	if sum.Limited && sum.Cursor != "" {
		q.Set("cursor", sum.Cursor)
		// The window as times: "2h" on the next page would be two hours
		// before a later moment.
		for _, k := range []string{"since", "until"} {
			if d, err := time.ParseDuration(q.Get(k)); err == nil && d >= 0 {
				q.Set(k, searched.Add(-d).UTC().Format(time.RFC3339Nano))
			}
		}
		foot["More"] = "/ui/search?" + q.Encode()
	}
	exec("search-foot", foot)
	exec("bottom", data)
}

func errorText(err error) string {
	if err == nil {
		return "the receiver gave no reason"
	}
	return err.Error()
}

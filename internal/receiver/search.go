package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/wire"
)

// Search limits.
const (
	defaultMaxSearches   = 2
	defaultSearchTimeout = time.Minute
	// A regexp with no literal to look for runs on every line: over more
	// than this window it is refused rather than left to run for long.
	maxLiteralFreeWindow = 24 * time.Hour
	searchFlushEvery     = 100 * time.Millisecond
)

// searchLine is one line of a search's answer, JSON Lines: hits as found,
// then the summary (or an error).
type searchLine struct {
	Kind string `json:"kind"` // hit, summary, error
	*search.Result
	*search.Summary
	Error string `json:"error,omitempty"`
}

// SearchError is a search refused before it ran: the status it was
// answered (400 bad query, 429 busy, 501 storage that cannot be searched,
// 507 disk full), the reason the index records, the sentence for the
// person, and for 429 the seconds to wait.
type SearchError struct {
	Status     int
	Reason     string
	Msg        string
	RetryAfter int
}

func (e *SearchError) Error() string { return e.Msg }

// Refused is the status to answer and the seconds to wait, for a caller
// (the dashboard) that knows the error only by this method.
func (e *SearchError) Refused() (status, retryAfter int) { return e.Status, e.RetryAfter }

// SearchFunc is Server.Search, as the dashboard is given it.
type SearchFunc = func(ctx context.Context, admin, remote string, q url.Values, start func(), emit func(search.Result) error) (search.Summary, error)

// searchCut is a search that ran but did not end on its own: the sentence
// for the person (what was found stands, continue with the cursor) and
// the reason the index records.
type searchCut struct {
	msg    string
	reason string
	err    error
}

func (e *searchCut) Error() string { return e.msg }
func (e *searchCut) Unwrap() error { return e.err }

// runSearch is the one search path of GET /v1/search and the dashboard:
// it reads the query, takes a slot and runs under the deadline. A refusal
// is returned before start is called; once admitted, start is called
// before anything is read and emit with each hit; a search cut short
// returns a *searchCut.
func (s *Server) runSearch(ctx context.Context, q url.Values, start func(), emit func(search.Result) error) (search.Summary, *apiError, error) {
	src, ok := s.store.(search.Source)
	if !ok {
		return search.Summary{}, &apiError{status: http.StatusNotImplemented, reason: wire.ReasonNotFound, msg: "this receiver's storage cannot be searched"}, nil
	}
	req, aerr := s.parseSearch(q)
	if aerr != nil {
		return search.Summary{}, aerr, nil
	}
	select {
	case s.searches <- struct{}{}:
		defer func() { <-s.searches }()
	default:
		return search.Summary{}, &apiError{status: http.StatusTooManyRequests, reason: wire.ReasonSearchBusy, retryAfter: 5,
			msg: fmt.Sprintf("%d searches are running, as many as this receiver runs at once; retry in a few seconds", cap(s.searches))}, nil
	}
	// Ends when the client goes, and at the deadline: the summary then
	// says so and gives a cursor to continue from.
	rctx, cancel := context.WithTimeout(ctx, s.opt.SearchTimeout)
	defer cancel()
	start()
	var gone bool // a hit could not be written: the client went
	sum, err := search.Run(rctx, src, req, func(res search.Result) error {
		err := emit(res)
		gone = gone || err != nil
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		err = &searchCut{err: err, msg: fmt.Sprintf("the search ran for %s, as long as this receiver lets one run; continue with its cursor", s.opt.SearchTimeout)}
	case ctx.Err() != nil || gone:
		err = &searchCut{err: err, reason: wire.ReasonCanceled, msg: "the search was cancelled: its client went"}
	default:
		s.log.Error("search", "err", err)
		err = &searchCut{err: err, reason: wire.ReasonStorage, msg: "the receiver could not read its storage; what was found so far is above, continue with the cursor"}
	}
	return sum, nil, err
}

// Search runs a search for the dashboard, asked by admin from remote, on
// the same path as GET /v1/search (the query, the slots, the deadline).
// A refusal is a *SearchError and start is not called; a search cut short
// returns what it found and an error whose text says so. Its one index
// line is durable before Search returns.
func (s *Server) Search(ctx context.Context, admin, remote string, q url.Values, start func(), emit func(search.Result) error) (search.Summary, error) {
	if s.opt.LineRoom != nil {
		if err := s.opt.LineRoom(); err != nil {
			// As for /v1/: no room even for the index line.
			return search.Summary{}, &SearchError{Status: http.StatusInsufficientStorage, Reason: wire.ReasonDiskFull,
				Msg: "the receiver's disk is full; nothing was searched or recorded, retry later (operator: free space or lower retention)"}
		}
	}
	begun := s.opt.Now()
	line := index.Line{TS: begun, Method: http.MethodGet, Endpoint: EPSearch, Auth: true, Admin: admin, Remote: remote, Status: http.StatusOK}
	line.Pattern, line.SearchMode, line.Window = describeSearch(q, begun)
	sum, aerr, err := s.runSearch(ctx, q, start, emit)
	if aerr != nil {
		line.Status, line.Reason = aerr.status, aerr.reason
		err = &SearchError{Status: aerr.status, Reason: aerr.reason, Msg: aerr.msg, RetryAfter: aerr.retryAfter}
	}
	line.Bytes = sum.BytesScanned
	var cut *searchCut
	if errors.As(err, &cut) {
		line.Reason = cut.reason
	}
	line.DurMS = float64(s.opt.Now().Sub(begun).Microseconds()) / 1000
	d, lerr := s.index.Begin(line)
	if lerr == nil {
		lerr = d(context.WithoutCancel(ctx))
	}
	if s.opt.Metrics != nil {
		s.opt.Metrics.Request(EPSearch, line.Status, 0)
	}
	if lerr != nil {
		s.log.Error("search not recorded in the index", "err", lerr)
		if aerr == nil {
			return sum, errors.New("the receiver could not record this search in its index; its results above stand")
		}
	}
	return sum, err
}

// search answers GET /v1/search (admins): the hits stream back as they are
// found, then a summary, written once the request's index line is durable.
func (s *Server) search(r *http.Request, p principal, rec *reqState) (*response, *apiError) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	rec.line.Pattern, rec.line.SearchMode, rec.line.Window = describeSearch(r.URL.Query(), s.opt.Now())
	w := rec.w
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var lastFlush time.Time
	sum, aerr, err := s.runSearch(r.Context(), r.URL.Query(), func() {
		h := w.Header()
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}, func(res search.Result) error {
		if err := enc.Encode(searchLine{Kind: "hit", Result: &res}); err != nil {
			return err
		}
		// The first hit at once, then at most ten flushes a second.
		if now := time.Now(); now.Sub(lastFlush) >= searchFlushEvery {
			_ = rc.Flush() // a client gone is seen through the context
			lastFlush = now
		}
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	rec.line.Bytes = sum.BytesScanned
	out := searchLine{Kind: "summary", Summary: &sum}
	var cut *searchCut
	if errors.As(err, &cut) {
		rec.line.Reason = cut.reason
		if cut.reason != wire.ReasonCanceled { // no one reads it
			out.Error = cut.msg
		}
	}
	b, _ := json.Marshal(out)
	return &response{status: http.StatusOK, raw: append(b, '\n'), streamed: true}, nil
}

// describeSearch is what a search's index line says it asked, even if it
// was refused: the pattern, the mode ("+i" ignoring case) and the window
// as times (since/until given as durations are made times, from now).
func describeSearch(q url.Values, now time.Time) (pattern, mode, window string) {
	mode = q.Get("mode")
	if mode == "" {
		mode = "words"
	}
	if q.Get("i") == "1" || q.Get("i") == "true" {
		mode += "+i"
	}
	end := func(v string) string {
		if at, aerr := parseSince(v, now); aerr == nil && v != "" {
			return at.UTC().Format(time.RFC3339)
		}
		return v
	}
	if since, until := q.Get(wire.QuerySince), q.Get(wire.QueryUntil); since != "" || until != "" {
		window = end(since) + "/" + end(until)
	}
	return q.Get("q"), mode, window
}

// parseSearch reads a search's query: q (the pattern), mode (words,
// substring, regex), i, hosts, streams, since, until, limit, count and
// cursor.
func (s *Server) parseSearch(q url.Values) (search.Request, *apiError) {
	bad := func(msg string) (search.Request, *apiError) {
		return search.Request{}, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadSearch, msg: msg}
	}
	query := search.Query{Pattern: q.Get("q"), IgnoreCase: q.Get("i") == "1" || q.Get("i") == "true"}
	switch q.Get("mode") {
	case "", "words":
	case "substring":
		query.Mode = search.Substring
	case "regex":
		query.Mode = search.Regex
	default:
		return bad(fmt.Sprintf("mode %q is not words, substring or regex", human.Clip(q.Get("mode"), 20)))
	}
	m, err := search.Compile(query)
	if err != nil {
		return bad(err.Error())
	}
	req := search.Request{Matcher: m, Hosts: q.Get("hosts"), Streams: q.Get("streams"), Count: q.Get("count") == "1" || q.Get("count") == "true", Cursor: q.Get("cursor"),
		Share: search.DefaultShare, Busy: func() bool { return s.inflight.used() > 0 }}
	for _, g := range []string{req.Hosts, req.Streams} {
		if err := search.CheckGlob(g); err != nil {
			return bad(err.Error())
		}
	}
	now := s.opt.Now()
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{wire.QuerySince, &req.Since}, {wire.QueryUntil, &req.Until}} {
		if v := q.Get(t.name); v != "" {
			at, aerr := parseSince(v, now)
			if aerr != nil {
				return bad(fmt.Sprintf("%s %q is neither a duration like 2h nor a time like 2026-11-27T08:00:00Z", t.name, human.Clip(v, 40)))
			}
			*t.dst = at
		}
	}
	if !req.Since.IsZero() && !req.Until.IsZero() && !req.Until.After(req.Since) {
		return bad("until is not after since: the window runs backwards; give the earlier time as since")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bad(fmt.Sprintf("limit %q is not a non-negative whole number of hits", human.Clip(v, 20)))
		}
		req.Limit = n
	}
	if !m.Literal() {
		from, to := req.Since, req.Until
		if to.IsZero() {
			to = now
		}
		if from.IsZero() || to.Sub(from) > maxLiteralFreeWindow {
			return bad(fmt.Sprintf("the regular expression holds no literal text to look for, so every line of the window would be run through it; add a word every match holds, or search at most %s (since)", human.Duration(maxLiteralFreeWindow)))
		}
	}
	if err := search.CheckCursor(req.Cursor); err != nil {
		return bad(err.Error())
	}
	return req, nil
}

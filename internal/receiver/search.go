package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/human"
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

// search answers GET /v1/search (admins): the hits stream back as they are
// found, then a summary, written once the request's index line is durable.
func (s *Server) search(r *http.Request, p principal, rec *reqState) (*response, *apiError) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	src, ok := s.store.(search.Source)
	if !ok {
		return nil, &apiError{status: http.StatusNotImplemented, reason: wire.ReasonNotFound, msg: "this receiver's storage cannot be searched"}
	}
	req, aerr := s.parseSearch(r)
	if aerr != nil {
		return nil, aerr
	}
	select {
	case s.searches <- struct{}{}:
		defer func() { <-s.searches }()
	default:
		return nil, &apiError{status: http.StatusTooManyRequests, reason: wire.ReasonSearchBusy, retryAfter: 5,
			msg: fmt.Sprintf("%d searches are running, as many as this receiver runs at once; retry in a few seconds", cap(s.searches))}
	}
	// Ends when the client goes, and at the deadline: the summary then
	// says so and gives a cursor to continue from.
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.SearchTimeout)
	defer cancel()

	w := rec.w
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var lastFlush time.Time
	sum, err := search.Run(ctx, src, req, func(res search.Result) error {
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
	rec.line.Bytes = sum.BytesScanned
	out := searchLine{Kind: "summary", Summary: &sum}
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		out.Error = fmt.Sprintf("the search ran for %s, as long as this receiver lets one run; continue with its cursor", s.opt.SearchTimeout)
	case r.Context().Err() != nil:
		rec.line.Reason = wire.ReasonCanceled
	default:
		s.log.Error("search", "err", err)
		out.Error = "the receiver could not read its storage; what was found so far is above, continue with the cursor"
		rec.line.Reason = wire.ReasonStorage
	}
	b, _ := json.Marshal(out)
	return &response{status: http.StatusOK, raw: append(b, '\n'), streamed: true}, nil
}

// parseSearch reads a search's query: q (the pattern), mode (words,
// substring, regex), i, hosts, streams, since, until, limit, count and
// cursor.
func (s *Server) parseSearch(r *http.Request) (search.Request, *apiError) {
	q := r.URL.Query()
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
	req := search.Request{Matcher: m, Hosts: q.Get("hosts"), Streams: q.Get("streams"), Count: q.Get("count") == "1" || q.Get("count") == "true", Cursor: q.Get("cursor")}
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

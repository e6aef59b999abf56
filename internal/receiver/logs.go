package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

// handle dispatches an authenticated request with a valid route.
func (s *Server) handle(r *http.Request, rt route, p principal, rec *reqState) (*response, *apiError) {
	switch {
	case rt.endpoint == EPLogs && rt.stream != "" && r.Method == http.MethodPut:
		return s.putLogs(r, rt, p, rec)
	case rt.endpoint == EPLogs && rt.stream != "" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		return s.readLogs(r, rt, p)
	case rt.endpoint == EPLogs && rt.stream == "" && r.Method == http.MethodGet:
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
		infos, err := s.store.List(r.Context(), rt.host)
		if err != nil {
			s.log.Error("list streams", "host", rt.host, "err", err)
			return nil, storageReadError()
		}
		return jsonResponse(http.StatusOK, wire.Streams{Host: rt.host, Streams: streamInfos(infos)}), nil
	case rt.endpoint == EPHeartbeat && r.Method == http.MethodPut:
		return s.putHeartbeat(r, rt, p, rec)
	case rt.endpoint == EPHostHealth && rt.host != "" && r.Method == http.MethodPut && s.opt.HostHealth != nil:
		return s.putHostHealth(r, rt, p, rec)
	case rt.endpoint == EPHostHealth && r.Method == http.MethodGet && s.opt.HostHealth != nil:
		return s.getHostHealth(rt, p)
	case rt.endpoint == EPReleases:
		return s.releases(r, rt, p)
	case rt.endpoint == EPSearch && r.Method == http.MethodGet:
		return s.search(r, p, rec)
	case rt.endpoint == EPFleet && r.Method == http.MethodGet && s.opt.Fleet != nil:
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
		v, err := s.opt.Fleet(r.Context(), s.opt.Now())
		if err != nil {
			s.log.Error("fleet view", "err", err)
			return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonFleetView, retryAfter: 30,
				msg: "the receiver cannot read its index for the fleet view right now; retry later, and read the receiver's journal"}
		}
		return jsonResponse(http.StatusOK, v), nil
	}
	return nil, &apiError{status: http.StatusMethodNotAllowed, reason: wire.ReasonMethod,
		msg: fmt.Sprintf("%s is not allowed on %s; see the API reference in the README", r.Method, r.URL.EscapedPath())}
}

// streamInfos is a host's streams as the wire has them: never null, an
// empty list.
func streamInfos(in []store.Info) []wire.StreamInfo {
	out := make([]wire.StreamInfo, len(in))
	for i, s := range in {
		out[i] = wire.StreamInfo{Stream: s.Stream, Start: s.Start, Length: s.Length, Gen: s.Gen, GenStart: s.GenStart}
	}
	return out
}

func (s *Server) putLogs(r *http.Request, rt route, p principal, rec *reqState) (*response, *apiError) {
	if err := requireHost(p, rt.host); err != nil {
		return nil, err
	}
	g := s.Gate()
	rec.line.Gate = g.Check(rec.line.Commit)
	if rec.line.Gate == gate.Stale {
		return nil, &apiError{status: http.StatusUpgradeRequired, reason: wire.ReasonStaleCode,
			msg:      fmt.Sprintf("this host runs commit %s, a release older than the receiver accepts; update it (cis490 autoupdate) to %s", rec.line.Commit, g.Text()),
			accepted: wireReleases(g.Accepted())}
	}
	offset, aerr := parseOffset(r.URL.Query())
	if aerr != nil {
		return nil, aerr
	}
	gen, aerr := parseGen(r.Header)
	if aerr != nil {
		return nil, aerr
	}
	if v := r.Header.Get(wire.HeaderLost); v != "" {
		// What the shipper lost before these bytes goes in the index
		// line, whatever the answer: the detector counts it once the PUT
		// is acknowledged (a retry carries it again, at the same offset).
		loss, err := wire.ParseLoss(v)
		if err != nil {
			return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadLost,
				msg: err.Error() + "; send \"bytes=N cause=C\" as the README's API reference says, or update the shipper"}
		}
		rec.line.Lost, rec.line.LostEntries, rec.line.LostCause = loss.Bytes, loss.Entries, loss.Cause
	}
	body, release, aerr := s.readBody(r, rec.w, rt.host)
	if aerr != nil {
		return nil, aerr
	}
	defer release()
	rec.line.Bytes = int64(len(body))
	b, err := s.store.Begin(r.Context(), store.Key{Host: rt.host, Stream: rt.stream}, offset, gen, body)
	if err != nil {
		return nil, s.storeError(err)
	}
	rec.durable, rec.withLine = b.Durable, b.WithLine
	rec.stored = b.Appended
	status := http.StatusCreated
	if b.Outcome == store.Duplicate {
		status = http.StatusOK
	}
	return jsonResponse(status, wire.Appended{Length: b.Length}), nil
}

func wireReleases(in []gate.Release) []wire.Release {
	out := make([]wire.Release, len(in))
	for i, r := range in {
		out[i] = wire.Release{Version: r.Version, Commit: r.Commit, Rolling: r.Rolling}
	}
	return out
}

// storeError maps a store failure to an answer; bad input never becomes a 5xx.
func (s *Server) storeError(err error) *apiError {
	var ce *store.ConflictError
	var qe *store.QuotaError
	switch {
	case errors.As(err, &ce):
		return &apiError{status: http.StatusConflict, reason: ce.Reason, msg: ce.Error(), length: &ce.Length}
	case errors.As(err, &qe) && qe.Reason == wire.ReasonStreams:
		return &apiError{status: http.StatusTooManyRequests, reason: wire.ReasonStreams, msg: qe.Error(), retryAfter: 3600, quota: qe}
	case errors.As(err, &qe):
		return &apiError{status: http.StatusTooManyRequests, reason: wire.ReasonQuota, msg: qe.Error(), retryAfter: secondsToMidnightUTC(s.opt.Now()), quota: qe}
	case errors.Is(err, store.ErrFull):
		return &apiError{status: http.StatusInsufficientStorage, reason: wire.ReasonDiskFull,
			msg: "the receiver is keeping its last free disk space; nothing was stored, retry later (operator: free space or lower retention)", retryAfter: 300}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonCanceled, msg: "the request ended before its bytes were durable; retry", retryAfter: 1}
	case errors.Is(err, groupsync.ErrFailed), errors.Is(err, store.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, msg: "the receiver's storage is unavailable; retry later", retryAfter: 30}
	}
	return &apiError{status: http.StatusInternalServerError, reason: wire.ReasonStorage, msg: "the receiver could not store the bytes; retry later"}
}

func secondsToMidnightUTC(now time.Time) int {
	next := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return int(next.Sub(now).Seconds()) + 1
}

func parseOffset(q map[string][]string) (int64, *apiError) {
	v, ok := q[wire.QueryOffset]
	if !ok || len(v) != 1 || v[0] == "" {
		return 0, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadOffset,
			msg: "the offset query parameter is missing; send ?offset=N with the stream length from HEAD"}
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n < 0 || v[0][0] == '+' {
		return 0, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadOffset,
			msg: fmt.Sprintf("offset %q is not a non-negative whole number of bytes", human.Clip(v[0], 40))}
	}
	return n, nil
}

func parseGen(h http.Header) (store.Gen, *apiError) {
	id := h.Get(wire.HeaderGeneration)
	if len(id) > wire.MaxGeneration {
		return store.Gen{}, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadGeneration, msg: fmt.Sprintf("X-Cis490-Generation is longer than %d bytes", wire.MaxGeneration)}
	}
	if !wire.ValidGeneration(id) {
		return store.Gen{}, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadGeneration, msg: "X-Cis490-Generation must be printable ASCII without spaces"}
	}
	var start int64
	if v := h.Get(wire.HeaderGenerationStart); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return store.Gen{}, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadGeneration,
				msg: fmt.Sprintf("X-Cis490-Generation-Start %q is not a non-negative byte offset", human.Clip(v, 40))}
		}
		start = n
	}
	return store.Gen{ID: id, Start: start}, nil
}

// storageReadError answers a read the storage failed: the receiver's
// fault, never the caller's input.
func storageReadError() *apiError {
	return &apiError{status: http.StatusInternalServerError, reason: wire.ReasonStorage, msg: "the receiver could not read that stream; retry later"}
}

func (s *Server) readLogs(r *http.Request, rt route, p principal) (*response, *apiError) {
	key := store.Key{Host: rt.host, Stream: rt.stream}
	if r.Method == http.MethodGet {
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
	} else if p.kind == pki.KindHost {
		if err := requireHost(p, rt.host); err != nil {
			return nil, err
		}
	}
	notFound := &apiError{status: http.StatusNotFound, reason: wire.ReasonNoStream,
		msg: fmt.Sprintf("host %s has no stream %s yet; start at offset 0", rt.host, rt.stream)}
	if r.Method == http.MethodHead {
		info, ok, err := s.store.Stat(r.Context(), key)
		if err != nil {
			s.log.Error("stat stream", "stream", key.String(), "err", err)
			return nil, storageReadError()
		}
		if !ok {
			return nil, notFound
		}
		return &response{status: http.StatusOK, headers: streamHeaders(info)}, nil
	}
	q := r.URL.Query()
	var offset int64
	switch {
	case q.Has(wire.QueryOffset) && q.Has(wire.QuerySince):
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadOffset, msg: "give offset or since, not both"}
	case q.Has(wire.QueryOffset):
		var aerr *apiError
		if offset, aerr = parseOffset(q); aerr != nil {
			return nil, aerr
		}
	case q.Has(wire.QuerySince):
		at, aerr := parseSince(q.Get(wire.QuerySince), s.opt.Now())
		if aerr != nil {
			return nil, aerr
		}
		var err error
		if offset, err = s.store.OffsetAt(r.Context(), key, at); errors.Is(err, store.ErrNotFound) {
			return nil, notFound
		} else if err != nil {
			s.log.Error("find offset", "stream", key.String(), "err", err)
			return nil, storageReadError()
		}
	}
	limit := 1 << 20
	if v := q.Get(wire.QueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadLimit, msg: fmt.Sprintf("limit %q is not a non-negative whole number of bytes", human.Clip(v, 40))}
		}
		limit = min(n, 8<<20)
	}
	data, info, err := s.store.Read(r.Context(), key, offset, limit)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		s.log.Error("read stream", "stream", key.String(), "err", err)
		return nil, storageReadError()
	}
	h := streamHeaders(info)
	h[wire.HeaderOffset] = strconv.FormatInt(max(offset, info.Start), 10)
	return &response{status: http.StatusOK, raw: data, ctype: "application/octet-stream", headers: h}, nil
}

// parseSince reads ?since=: a duration before the receiver's now ("2h",
// "90m": the receiver's clock stamped the bytes) or an RFC 3339 time.
func parseSince(v string, now time.Time) (time.Time, *apiError) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadSince,
		msg: fmt.Sprintf("since %q is neither a duration like 2h nor a time like 2026-11-27T08:00:00Z", human.Clip(v, 40))}
}

func streamHeaders(info store.Info) map[string]string {
	return map[string]string{
		wire.HeaderLength:          strconv.FormatInt(info.Length, 10),
		wire.HeaderStart:           strconv.FormatInt(info.Start, 10),
		wire.HeaderGeneration:      info.Gen,
		wire.HeaderGenerationStart: strconv.FormatInt(info.GenStart, 10),
	}
}

func (s *Server) putHeartbeat(r *http.Request, rt route, p principal, rec *reqState) (*response, *apiError) {
	if err := requireHost(p, rt.host); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil || len(body) > 4096 {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBody, msg: "a heartbeat body is a small JSON object like {\"state\":\"up\"}"}
	}
	state := wire.StateUp
	if len(body) > 0 {
		var hb wire.Heartbeat
		if err := json.Unmarshal(body, &hb); err != nil {
			return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadJSON, msg: "the heartbeat body is not JSON; send {\"state\":\"up\"}, {\"state\":\"shutdown\"} or {\"state\":\"sleep\"}"}
		}
		if hb.State != "" {
			state = hb.State
		}
	}
	if !wire.ValidState(state) {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadState, msg: fmt.Sprintf("heartbeat state %q is not one of up, shutdown, sleep", human.Clip(state, 20))}
	}
	rec.line.State = state
	return jsonResponse(http.StatusOK, wire.Heartbeat{State: state}), nil
}

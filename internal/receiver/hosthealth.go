package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"time"

	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/wire"
)

// putHostHealth stores a host's doctor snapshot. It is never behind the
// version gate: a host running stale code must still be able to say so.
func (s *Server) putHostHealth(r *http.Request, rt route, p principal, rec *reqState) (*response, *apiError) {
	if err := requireHost(p, rt.host); err != nil {
		return nil, err
	}
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, reason: wire.ReasonTooLarge,
		msg: fmt.Sprintf("a doctor snapshot may be at most %d bytes; trim it", hosthealth.MaxSize)}
	if r.ContentLength > hosthealth.MaxSize {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, hosthealth.MaxSize+1))
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBody, msg: "the snapshot could not be read in full; send it again"}
	}
	if len(body) > hosthealth.MaxSize {
		return nil, tooLarge
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadJSON,
			msg: "a doctor snapshot is one JSON object, as `cis490 doctor --json` prints it"}
	}
	rec.line.Bytes = int64(len(body))
	now := s.opt.Now().UTC()
	if err := s.opt.HostHealth.Write(rt.host, body, now); err != nil {
		s.log.Error("store a doctor snapshot", "host", rt.host, "err", err)
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 60,
			msg: "the receiver cannot store the snapshot right now; retry later"}
	}
	return jsonResponse(http.StatusOK, map[string]any{"host": rt.host, "received_at": now.Format(time.RFC3339Nano), "bytes": len(body)}), nil
}

// getHostHealth answers an admin with every host's latest snapshot, or
// one host's.
func (s *Server) getHostHealth(rt route, p principal) (*response, *apiError) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if rt.host != "" {
		snap, err := s.opt.HostHealth.Read(rt.host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoSnapshot,
				msg: fmt.Sprintf("host %s has sent no doctor snapshot; its cis490-doctor-check.timer runs daily", rt.host)}
		}
		if err != nil {
			return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the snapshot cannot be read right now; retry later"}
		}
		return jsonResponse(http.StatusOK, snap), nil
	}
	all, err := s.opt.HostHealth.ReadAll()
	if err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the snapshots cannot be read right now; retry later"}
	}
	return jsonResponse(http.StatusOK, map[string]any{"hosts": all}), nil
}

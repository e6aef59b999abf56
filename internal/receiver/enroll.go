package receiver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/wire"
)

// Enroller signs the certificates of hosts joining with a join token.
type Enroller struct {
	CA       *pki.CA
	DataDir  string
	Lifetime time.Duration // of a host certificate
	// Grace is how long after expiry a certificate may still renew.
	Grace time.Duration
	// ReleaseKey, when set, goes to every enrolling host to pin.
	ReleaseKey string
	// Rejoined is called when a host enrolls (the detector watches it
	// again after a `host remove`).
	Rejoined func(host string) error
	// Trust makes the changes; nil is trust.Local over DataDir.
	Trust *trust.Trust
	// LockWait bounds how long a request waits for the trust lock before
	// it is answered 503; zero is DefaultLockWait.
	LockWait time.Duration

	local      sync.Once
	localTrust *trust.Trust
	retire     retirements
}

// DefaultLockWait is how long an enrollment or a renewal waits for the
// trust lock: well past any one change's file work, well short of a
// client's patience.
const DefaultLockWait = 10 * time.Second

// trust is where enrollment and renewal change credentials: the daemon's
// state when it plugged one in, the files in DataDir otherwise — one for
// the server's life, so its requests queue for the lock in one line.
func (e *Enroller) trust() *trust.Trust {
	if e.Trust != nil {
		return e.Trust
	}
	e.local.Do(func() { e.localTrust = trust.Local(e.DataDir) })
	return e.localTrust
}

// lockContext is the context a request's change to trust runs under: it
// ends with the request, or once LockWait has passed.
func (e *Enroller) lockContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), cmp.Or(e.LockWait, DefaultLockWait))
}

// enroll answers POST /v1/enroll: a join token (bearer) and a CSR make a
// host; it needs no client certificate.
func (s *Server) enroll(r *http.Request, rec *reqState) (*response, *apiError) {
	e := s.opt.Enroll
	if e == nil {
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNotFound, msg: "this receiver does not enroll hosts (its CA key is not here); issue a bundle with `cis490 ca issue --host`"}
	}
	if r.Method != http.MethodPost {
		return nil, &apiError{status: http.StatusMethodNotAllowed, reason: wire.ReasonMethod, msg: "enroll with POST /v1/enroll"}
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonNoToken, msg: "enrolling needs a join token: Authorization: Bearer <token from cis490 token create>"}
	}
	// The token first, from memory and cheaply: an unauthenticated caller,
	// or one with a spent token, gets no body read, no lock, no file read
	// and no CSR parsed.
	now := s.opt.Now()
	if err := s.tokens.CheckJoin(tok, now); err != nil {
		return nil, s.joinError("", err)
	}
	body, aerr := s.readSmallBody(r, rec, "an enroll request is a small JSON object {\"host\", \"csr\"} sent at once")
	if aerr != nil {
		return nil, aerr
	}
	var req wire.EnrollRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadJSON, msg: "the enroll request is not JSON {\"host\": NAME, \"csr\": PEM}"}
	}
	host, err := names.Host(req.Host)
	if err != nil {
		return nil, badName(fmt.Sprintf("the host name is not valid (%s); use a DNS name: labels of a-z, 0-9 and '-'", trimInvalid(err)))
	}
	csr, err := pki.ParseCSR([]byte(req.CSR))
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadCSR, msg: "the certificate request is not valid: " + err.Error()}
	}
	// Sign before anything is spent or revoked: a request the CA refuses
	// (the receiver's own name, a weak key) costs the token nothing.
	certPEM, serial, err := e.CA.SignHostCSR(csr, host, e.Lifetime, now)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadName, msg: err.Error()}
	}
	// One change to the fleet's credentials at a time (trust holds its
	// lock): an enrollment racing a `host remove` must not leave
	// credentials the removal missed.
	ctx, cancel := e.lockContext(r)
	defer cancel()
	g, err := e.trust().Enroll(ctx, tok, certPEM, now, func(host string) {
		if e.Rejoined == nil {
			return
		}
		if err := e.Rejoined(host); err != nil {
			s.log.Warn("enrolled, but the detector was not told", "host", host, "err", err)
		}
	})
	if g.Name != "" {
		rec.line.Host = host // the token was good: the request is about host
	}
	if err != nil {
		return nil, s.joinError(host, err)
	}
	s.log.Info("host enrolled", "host", host, "serial", serial, "not_after", g.Cert.NotAfter)
	return jsonResponse(http.StatusCreated, wire.Enrolled{Host: host, Cert: string(certPEM), CA: string(e.CA.CertPEM()),
		Token: g.Token, NotAfter: g.Cert.NotAfter.UTC(), ReleaseKey: e.ReleaseKey}), nil
}

// smallBodyTime bounds how long the body of an enroll or a renewal may
// take: a CSR is a few hundred bytes, and a caller trickling it is cut
// short rather than holding a connection for the server's two minutes.
const smallBodyTime = 10 * time.Second

// readSmallBody reads a body of at most 64 KiB within smallBodyTime
// (Server's, shorter in tests).
func (s *Server) readSmallBody(r *http.Request, rec *reqState, what string) ([]byte, *apiError) {
	_ = http.NewResponseController(rec.w).SetReadDeadline(time.Now().Add(s.smallBodyTime)) // a network deadline: the real clock
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &apiError{status: http.StatusRequestTimeout, reason: wire.ReasonSlowBody, close: true,
			msg: fmt.Sprintf("the body did not arrive within %s and was cut; %s", s.smallBodyTime, what)}
	case err != nil || len(body) > 64<<10:
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, reason: wire.ReasonTooLarge, msg: what, close: true}
	}
	return body, nil
}

// joinError answers a join token's check that failed with err: the
// refusal it names, or 503 when the tokens could not be read at all.
func (s *Server) joinError(host string, err error) *apiError {
	if ae := joinRefused(err); ae != nil {
		return ae
	}
	return s.enrollFailed(host, err)
}

// joinRefused is the answer to a join token refused for err, or nil when
// err is not a refusal.
func joinRefused(err error) *apiError {
	for _, c := range []struct {
		err    error
		status int
		reason string
	}{
		{token.ErrJoinHost, http.StatusForbidden, wire.ReasonJoinHost},
		{token.ErrJoinUsed, http.StatusForbidden, wire.ReasonJoinUsed},
		{token.ErrJoinLive, http.StatusConflict, wire.ReasonJoinLive},
		{token.ErrJoinExpired, http.StatusUnauthorized, wire.ReasonJoinExpired},
		{token.ErrJoinUnknown, http.StatusUnauthorized, wire.ReasonJoinToken},
	} {
		if errors.Is(err, c.err) {
			return &apiError{status: c.status, reason: c.reason, msg: err.Error()}
		}
	}
	return &apiError{}
}

func (s *Server) enrollFailed(host string, err error) *apiError {
	var busy *trust.BusyError
	if errors.As(err, &busy) {
		s.log.Warn("the trust lock stayed busy", "host", host, "err", err)
		return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonOverloaded, retryAfter: 10,
			msg: "the receiver is busy with other changes to the fleet's credentials; retry in a few seconds"}
	}
	s.log.Error("enroll", "host", host, "err", err)
	return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the receiver cannot enroll hosts right now; retry later"}
}

package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/vfs"
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
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, reason: wire.ReasonTooLarge, msg: "an enroll request is a small JSON object {\"host\", \"csr\"}"}
	}
	// The token first, from memory and cheaply: an unauthenticated caller
	// gets no lock, no file read and no CSR parsed.
	if !s.tokens.IsJoin(tok) {
		return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonJoinToken, msg: token.ErrJoinUnknown.Error()}
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
	now := s.opt.Now()
	// Sign before anything is spent or revoked: a request the CA refuses
	// (the receiver's own name, a weak key) costs the token nothing.
	certPEM, serial, err := e.CA.SignHostCSR(csr, host, e.Lifetime, now)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadName, msg: err.Error()}
	}
	// One change to the fleet's credentials at a time: an enrollment
	// racing a `host remove` must not leave credentials the removal missed.
	unlock, err := LockTrust(e.DataDir)
	if err != nil {
		return nil, s.enrollFailed(host, err)
	}
	defer unlock()
	if err := token.ConsumeJoin(datadir.Dir(e.DataDir).Tokens(), tok, host, now); err != nil {
		switch {
		case errors.Is(err, token.ErrJoinHost):
			return nil, &apiError{status: http.StatusForbidden, reason: wire.ReasonJoinHost, msg: err.Error()}
		case errors.Is(err, token.ErrJoinUsed):
			return nil, &apiError{status: http.StatusForbidden, reason: wire.ReasonJoinUsed, msg: err.Error()}
		case errors.Is(err, token.ErrJoinLive):
			return nil, &apiError{status: http.StatusConflict, reason: wire.ReasonJoinLive, msg: err.Error()}
		case errors.Is(err, token.ErrJoinExpired):
			return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonJoinExpired, msg: err.Error()}
		case errors.Is(err, token.ErrJoinUnknown):
			return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonJoinToken, msg: err.Error()}
		}
		return nil, s.enrollFailed(host, err)
	}
	rec.line.Host = host // the token is good: the request is about host
	// Enrolling again replaces the host's credentials: the old ones stop
	// working now. A failure from here gives the token's use back.
	fail := func(err error) (*response, *apiError) {
		if rerr := token.ReleaseJoin(datadir.Dir(e.DataDir).Tokens(), tok, host); rerr != nil {
			s.log.Error("give back a join token's use", "host", host, "err", rerr)
		}
		return nil, s.enrollFailed(host, err)
	}
	if _, _, err := RevokeHost(e.DataDir, host, "enrolled again", now); err != nil {
		return fail(err)
	}
	cert, err := RecordIssued(e.DataDir, certPEM, now)
	if err != nil {
		return fail(err)
	}
	hostTok, err := token.Add(datadir.Dir(e.DataDir).Tokens(), token.KindHost, host, now)
	if err != nil {
		return fail(err)
	}
	if e.Rejoined != nil {
		if err := e.Rejoined(host); err != nil {
			s.log.Warn("enrolled, but the detector was not told", "host", host, "err", err)
		}
	}
	s.log.Info("host enrolled", "host", host, "serial", serial, "not_after", cert.NotAfter)
	return jsonResponse(http.StatusCreated, wire.Enrolled{Host: host, Cert: string(certPEM), CA: string(e.CA.CertPEM()),
		Token: hostTok, NotAfter: cert.NotAfter.UTC(), ReleaseKey: e.ReleaseKey}), nil
}

func (s *Server) enrollFailed(host string, err error) *apiError {
	s.log.Error("enroll", "host", host, "err", err)
	return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the receiver cannot enroll hosts right now; retry later"}
}

// RevokeHost revokes host's tokens and every certificate the CA's ledger
// says it issued the host.
func RevokeHost(data, host, why string, now time.Time) (tokens, certs int, err error) {
	return revokeAll(data, token.KindHost, host, why, now)
}

// RevokeAdmin revokes an admin's tokens and every certificate the CA
// issued it: the API and the dashboard refuse them at once.
func RevokeAdmin(data, name, why string, now time.Time) (tokens, certs int, err error) {
	return revokeAll(data, token.KindAdmin, name, why, now)
}

func revokeAll(data, kind, name, why string, now time.Time) (tokens, certs int, err error) {
	host, d := name, datadir.Dir(data)
	if tokens, err = token.RevokeName(d.Tokens(), kind, name); err != nil {
		return 0, 0, err
	}
	issued, err := pki.IssuedTo(d.Issued(), name)
	if err != nil {
		return tokens, 0, fmt.Errorf("read the CA's ledger: %w", err)
	}
	var rev []pki.Revoked
	for _, c := range issued {
		if c.Kind == kind {
			rev = append(rev, pki.Revoked{Serial: c.Serial, Host: host, At: now.UTC(), Why: why})
		}
	}
	if len(rev) > 0 {
		if err := pki.Revoke(d.Revoked(), rev...); err != nil {
			return tokens, 0, fmt.Errorf("write the revocation list: %w", err)
		}
	}
	return tokens, len(rev), nil
}

// LockTrust serialises changes to a host's credentials (enroll, renew,
// host remove) across the receiver and the admin commands; the returned
// func releases it.
func LockTrust(dataDir string) (func(), error) {
	return vfs.Lock(datadir.Dir(dataDir).TrustLock(), 0o640)
}

// AdminCertified reports whether the CA's ledger shows admin name holding
// a certificate that is neither expired nor revoked (the dashboard's
// token login asks: an admin whose certificates are gone is gone).
func AdminCertified(data, name string, revoked *pki.Revocations, now time.Time) bool {
	issued, err := pki.IssuedTo(datadir.Dir(data).Issued(), name)
	if err != nil {
		return false
	}
	for _, c := range issued {
		if c.Kind == token.KindAdmin && now.Before(c.NotAfter) && !revoked.HasSerial(c.Serial) {
			return true
		}
	}
	return false
}

package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/wire"
)

// renew answers POST /v1/certs/renew: a host's current certificate (the
// TLS handshake proves its key) and its token get a new certificate for
// the same host over a new key. An expired certificate still renews
// within the grace period, so a laptop back from a long break heals
// itself; past it, the host enrolls again.
func (s *Server) renew(r *http.Request, now time.Time, rec *reqState) (*response, *apiError) {
	e := s.opt.Enroll
	if e == nil {
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNotFound, msg: "this receiver does not renew certificates (its CA key is not here)"}
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.EscapedPath(), "/certs/renew") {
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNotFound, msg: "renew with POST /v1/certs/renew"}
	}
	v := s.verifyPeer(r, now) // a revoked certificate, expired or not, is refused here
	rec.line.CertHost = v.CertHost
	switch {
	case v.OK() && v.Kind == pki.KindHost:
	case v.Reason == pki.ReasonCertExpired && v.CertHost != "" && now.Sub(v.NotAfter) <= e.Grace:
		// Expired, within the grace period: the handshake proved its key;
		// the host token below proves the rest.
	case v.Reason == pki.ReasonCertExpired && v.CertHost != "":
		return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonCertExpired,
			msg: fmt.Sprintf("the certificate expired at %s, past the %s in which it may still renew; enroll this host again: cis490 enroll --receiver URL --host %s --token-file FILE",
				v.NotAfter.UTC().Format(time.RFC3339), e.Grace, v.CertHost)}
	case !v.OK():
		return nil, &apiError{status: http.StatusUnauthorized, reason: v.Reason, msg: v.Message}
	default:
		return nil, &apiError{status: http.StatusForbidden, reason: wire.ReasonNotHost, msg: "only a host renews its certificate"}
	}
	host := v.CertHost
	rec.line.Host = host
	// The token first, from memory and cheaply; then the body, read and
	// bounded before trust takes its lock: a host trickling its body must
	// not hold up `host remove` or anyone's enrollment.
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	te, ok := s.tokens.Lookup(strings.TrimSpace(tok))
	if !ok || te.Kind != token.KindHost || te.Name != host {
		return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonBadToken, msg: "renewing needs this host's own token (tls.token_file)"}
	}
	rec.line.Auth = true
	if aerr := claimConnOf(r, principal{kind: pki.KindHost, name: host}); aerr != nil {
		return nil, aerr
	}
	body, aerr := s.readSmallBody(r, rec, "a renewal is a small JSON object {\"csr\"} sent at once")
	if aerr != nil {
		return nil, aerr
	}
	var req wire.RenewRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadJSON, msg: "the renewal is not JSON {\"csr\": PEM}"}
	}
	csr, err := pki.ParseCSR([]byte(req.CSR))
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadCSR, msg: "the certificate request is not valid: " + err.Error()}
	}
	certPEM, serial, err := e.CA.SignHostCSR(csr, host, e.Lifetime, now)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadName, msg: err.Error()}
	}
	ctx, cancel := e.lockContext(r)
	defer cancel()
	g, err := e.trust().Renew(ctx, r.TLS.PeerCertificates[0], v.Reason == pki.ReasonCertExpired, certPEM, now)
	if errors.Is(err, trust.ErrSuperseded) {
		return nil, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonCertSuperseded,
			msg: fmt.Sprintf("this expired certificate is not the newest issued to %s, and only the newest may renew after expiry; enroll this host again: cis490 enroll --receiver URL --host %s --token-file FILE", host, host)}
	}
	if err != nil {
		return nil, s.enrollFailed(host, err)
	}
	s.renewed(host, trust.Renewal{Next: pki.Serial(g.Cert), Earlier: g.Earlier}, now)
	s.log.Info("certificate renewed", "host", host, "serial", serial, "not_after", g.Cert.NotAfter)
	return jsonResponse(http.StatusCreated, wire.Renewed{Host: host, Cert: string(certPEM), CA: string(e.CA.CertPEM()), NotAfter: g.Cert.NotAfter.UTC()}), nil
}

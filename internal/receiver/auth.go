package receiver

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/wire"
)

// principal is who a request authenticated as.
type principal struct {
	kind pki.Kind // KindHost or KindAdmin
	name string
}

// authenticate checks the client certificate, then the bearer token, and
// fills the index line's cert_host. Certificate first: only a certificate the
// fleet CA signed attributes a request to a host. The connection then counts
// against its host's (or admin's) connection limit.
func (s *Server) authenticate(r *http.Request, now time.Time, rec *reqState) (principal, *apiError) {
	p, ae := s.credentials(r, now, rec)
	if ae == nil {
		if ae = claimConnOf(r, p); ae != nil {
			return principal{}, ae
		}
	}
	if ae == nil && p.kind == pki.KindHost {
		// A connection's certificate cannot change: its first request
		// settles whether it retires earlier ones, and later requests on
		// it take no lock for that.
		cache, _ := r.Context().Value(connKey{}).(*connVerdict)
		if cache == nil || !cache.retired.Load() {
			if s.retireEarlier(r, p.name, now) && cache != nil {
				cache.retired.Store(true)
			}
		}
	}
	return p, ae
}

// claimConnOf counts r's connection as p's, or refuses when p holds its
// limit of connections, all busy.
func claimConnOf(r *http.Request, p principal) *apiError {
	if claimConn(r.Context(), p.kind.String()+"/"+p.name) {
		return nil
	}
	return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonOverloaded, retryAfter: 5,
		msg: fmt.Sprintf("%s %s holds its limit of connections to the receiver (limits.max_conns_per_host); reuse one connection", p.kind, p.name)}
}

// credentials checks the certificate and the token of r.
func (s *Server) credentials(r *http.Request, now time.Time, rec *reqState) (principal, *apiError) {
	v := s.verifyPeer(r, now)
	rec.line.CertHost = v.CertHost
	if v.CertHost != "" && !v.NotAfter.IsZero() {
		rec.line.CertExpires = v.NotAfter.UTC().Format(time.RFC3339)
	}
	if !v.OK() {
		return principal{}, &apiError{status: http.StatusUnauthorized, reason: v.Reason, msg: v.Message}
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return principal{}, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonNoToken,
			msg: "no bearer token was sent; " + tokenFix(v.Kind)}
	}
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok {
		return principal{}, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonBadToken,
			msg: "the Authorization header must be `Bearer <token>`"}
	}
	e, ok := s.tokens.Lookup(strings.TrimSpace(tok))
	if !ok {
		return principal{}, &apiError{status: http.StatusUnauthorized, reason: wire.ReasonBadToken,
			msg: "the bearer token is not known to this receiver (wrong, revoked or from another fleet); " + tokenFix(v.Kind)}
	}
	switch {
	case v.Kind == pki.KindHost && e.Kind == token.KindHost:
		if e.Name != v.Name {
			return principal{}, &apiError{status: http.StatusForbidden, reason: wire.ReasonHostMismatch,
				msg: fmt.Sprintf("the token belongs to host %s but the certificate names %s; a host may only use its own credentials", e.Name, v.Name)}
		}
		return principal{kind: pki.KindHost, name: v.Name}, nil
	case v.Kind == pki.KindAdmin && e.Kind == token.KindAdmin:
		if e.Name != v.Name {
			return principal{}, &apiError{status: http.StatusForbidden, reason: wire.ReasonAdminMismatch,
				msg: fmt.Sprintf("the admin token belongs to %s but the certificate names %s", e.Name, v.Name)}
		}
		return principal{kind: pki.KindAdmin, name: v.Name}, nil
	default:
		return principal{}, &apiError{status: http.StatusForbidden, reason: wire.ReasonCredMismatch,
			msg: fmt.Sprintf("%s certificate was sent with %s token; admin and host credentials are never interchangeable", human.A(v.Kind.String()), human.A(e.Kind))}
	}
}

// requireHost checks that p is the host named in the path.
func requireHost(p principal, pathHost string) *apiError {
	if p.kind != pki.KindHost {
		return &apiError{status: http.StatusForbidden, reason: wire.ReasonAdminWrite,
			msg: "admins may read every host's data but write as no host; use the host's own credentials"}
	}
	if p.name != pathHost {
		return &apiError{status: http.StatusForbidden, reason: wire.ReasonHostMismatch,
			msg: fmt.Sprintf("these credentials are for host %s, not %s; a host may only write as itself", p.name, pathHost)}
	}
	return nil
}

func requireAdmin(p principal) *apiError {
	if p.kind != pki.KindAdmin {
		return &apiError{status: http.StatusForbidden, reason: wire.ReasonNotAdmin,
			msg: "this endpoint is for admins; use an admin certificate and token from `cis490 ca issue --admin NAME`"}
	}
	return nil
}

// connKey finds a connection's verdict cache in a request's context.
type connKey struct{}

// connVerdict caches a good verdict for the life of a TLS connection: the
// peer's certificate cannot change within it, so chain building runs once
// per connection, not once per request. It is re-checked once the
// certificate's validity window has passed.
type connVerdict struct {
	v       atomic.Pointer[pki.Verdict]
	conn    *gatedConn  // counted against the connection limits; nil if not
	retired atomic.Bool // retireEarlier has settled this connection's certificate
}

// withConnCache is the http.Server's ConnContext.
func withConnCache(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connVerdict{conn: gatedOf(c)})
}

func (s *Server) verifyPeer(r *http.Request, now time.Time) pki.Verdict {
	cache, _ := r.Context().Value(connKey{}).(*connVerdict)
	if cache != nil {
		if v := cache.v.Load(); v != nil && now.Before(v.NotAfter) {
			if r.TLS != nil && s.verifier.Revoked(r.TLS.PeerCertificates) {
				return pki.RevokedVerdict(v.CertHost) // revoked since: at once
			}
			return *v
		}
	}
	var chain []*x509.Certificate
	if r.TLS != nil {
		chain = r.TLS.PeerCertificates
	}
	v := s.verifier.Verify(chain, now)
	if cache != nil && v.OK() {
		cache.v.Store(&v)
	}
	return v
}

// tokenFix says where the right token comes from, for the kind of
// certificate the client presented.
func tokenFix(kind pki.Kind) string {
	if kind == pki.KindAdmin {
		return "use the token of your admin bundle (`cis490 ca issue --admin NAME` makes one)"
	}
	return "set token_file in lab-host.toml to this host's token (`cis490 ca issue --host NAME` or `cis490 enroll` makes one)"
}

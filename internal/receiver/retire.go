package receiver

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/trust"
)

// retirements are the renewals whose new certificate a host has not used
// yet. A renewal leaves the host's earlier certificates valid, so a host
// whose answer was lost keeps shipping with the one it has; the first
// request the new certificate authenticates revokes them, so a copied old
// key stops working as soon as the host has moved on.
type retirements struct {
	mu     sync.Mutex
	loaded bool
	byHost map[string]trust.Renewal
}

// load fills r from the ledger once (renewals made before a restart);
// r.mu is held.
func (r *retirements) load(e *Enroller, revoked func(string) bool, now time.Time) error {
	if r.loaded {
		return nil
	}
	m, err := e.trust().Unretired(revoked, now)
	if err != nil {
		return err
	}
	r.byHost, r.loaded = m, true
	return nil
}

// renewed notes host's renewal: next retires earlier once used.
func (s *Server) renewed(host string, next trust.Renewal, now time.Time) {
	e := s.opt.Enroll
	e.retire.mu.Lock()
	defer e.retire.mu.Unlock()
	if err := e.retire.load(e, s.verifier.RevokedSerial, now); err != nil {
		s.log.Warn("the earlier certificates will not be revoked when the renewed one is used", "host", host, "err", err)
		return
	}
	e.retire.byHost[host] = next
}

// retireWait bounds how long a request waits for the trust lock to
// retire certificates; a busy lock leaves them for the next request.
const retireWait = 2 * time.Second

// retireEarlier revokes host's certificates from before the renewed one r
// was authenticated with, if that is its first use. It reports whether
// that is settled for r's certificate (false: retry on a later request).
func (s *Server) retireEarlier(r *http.Request, host string, now time.Time) bool {
	e := s.opt.Enroll
	if e == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return true
	}
	serial := pki.Serial(r.TLS.PeerCertificates[0])
	e.retire.mu.Lock()
	if err := e.retire.load(e, s.verifier.RevokedSerial, now); err != nil {
		e.retire.mu.Unlock()
		s.log.Warn("read the renewals to retire", "err", err)
		return false
	}
	due, ok := e.retire.byHost[host]
	if ok && due.Next == serial {
		delete(e.retire.byHost, host)
	}
	e.retire.mu.Unlock()
	if !ok || due.Next != serial {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), retireWait)
	defer cancel()
	if err := e.trust().Retire(ctx, host, due.Earlier, now); err != nil {
		s.log.Warn("revoke a host's certificates from before its renewal; retrying on its next request", "host", host, "err", err)
		e.retire.mu.Lock()
		if _, newer := e.retire.byHost[host]; !newer {
			e.retire.byHost[host] = due
		}
		e.retire.mu.Unlock()
		return false
	}
	s.log.Info("the renewed certificate is in use: the earlier ones are revoked", "host", host, "serial", serial, "revoked", len(due.Earlier))
	return true
}

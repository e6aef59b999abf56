// Package trust is the one owner of changes to the fleet's credentials:
// issuing a bundle, enrolling, renewing, revoking a host or an admin,
// recording what the CA signed, and telling whether an admin still holds
// a certificate.
//
// Every change runs the same sequence under one lock (State.Lock), so an
// enrollment racing `cis490 host remove` never leaves credentials the
// removal missed: lock → revoke the name's earlier credentials → record
// the new certificate → add its token → unlock. The lock is held only
// for file work, never while waiting on a network peer: callers read and
// bound whatever a request sends before they call in here, or one slow
// host would stall every change to trust.
//
// Tokens live behind token.State, the ledger and revocation list behind
// State; Trust ties them together.
package trust

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
)

// Trust changes a receiver's credentials.
type Trust struct {
	state  State
	tokens token.State
	// waiting, if set, is told who holds the lock once a change has
	// waited noticeAfter for it (a command says why it hangs).
	waiting func(holder string)
}

// noticeAfter is how long a change waits for the lock before Waiting's
// callback hears of it.
const noticeAfter = time.Second

// Waiting makes t tell notice who holds the trust lock when a change has
// waited for it a second; it returns t.
func (t *Trust) Waiting(notice func(holder string)) *Trust {
	t.waiting = notice
	return t
}

// lock takes the trust lock, waiting until ctx ends (a *BusyError then).
func (t *Trust) lock(ctx context.Context) (func(), error) {
	if t.waiting == nil {
		return t.state.Lock(ctx)
	}
	quick, cancel := context.WithTimeout(ctx, noticeAfter)
	unlock, err := t.state.Lock(quick)
	cancel()
	var busy *BusyError
	if !errors.As(err, &busy) || ctx.Err() != nil {
		return unlock, err
	}
	t.waiting(busy.Holder)
	return t.state.Lock(ctx)
}

// New is Trust over state and tokens.
func New(state State, tokens token.State) *Trust { return &Trust{state: state, tokens: tokens} }

// Local is Trust over the files in data_dir.
func Local(dataDir string) *Trust {
	d := datadir.Dir(dataDir)
	return New(Files(d), token.Files(d.Tokens()))
}

// Grant is what an issue, an enrollment or a renewal handed out. On an
// error it still says what was done before the error, so a caller can
// tell the user (an earlier bundle already ended, a join token spent).
type Grant struct {
	Cert  *x509.Certificate
	Kind  string // token.KindHost or token.KindAdmin
	Name  string
	Token string // the new bearer token; none for a renewal
	// Replaced counts the earlier tokens and certificates revoked.
	Replaced int
	// Earlier, for a renewal, are the serials of the host's certificates
	// the ledger recorded before this one. They stay valid until the host
	// uses the new one (Retire): a host whose renewal answer was lost
	// keeps working with the certificate it has.
	Earlier []string
}

// ErrSuperseded: an expired certificate that is not the newest the ledger
// records for its host may not renew; an old key (a backup, a discarded
// disk) with the token must not mint a fresh certificate.
var ErrSuperseded = errors.New("this expired certificate is not the newest issued to its host")

// Issue records certPEM, which the CA just signed, and adds a token for
// it, as `ca issue` does. A host has one bundle: issuing it again ends the
// earlier one, as enrolling again does. An admin may hold several.
func (t *Trust) Issue(ctx context.Context, certPEM []byte, now time.Time) (Grant, error) {
	return t.issue(ctx, certPEM, now, true)
}

// IssueAlongside is Issue leaving the name's earlier credentials working:
// a test that holds two certificates for one host.
func (t *Trust) IssueAlongside(ctx context.Context, certPEM []byte, now time.Time) (Grant, error) {
	return t.issue(ctx, certPEM, now, false)
}

func (t *Trust) issue(ctx context.Context, certPEM []byte, now time.Time, replace bool) (Grant, error) {
	g, err := parse(certPEM)
	if err != nil {
		return g, err
	}
	if g.Kind != token.KindHost && g.Kind != token.KindAdmin {
		return Grant{}, fmt.Errorf("issue: not a host or admin certificate (%s)", g.Kind)
	}
	unlock, err := t.lock(ctx)
	if err != nil {
		return g, err
	}
	defer unlock()
	if replace && g.Kind == token.KindHost {
		toks, certs, err := t.revoke(g.Kind, g.Name, "issued again", now)
		if err != nil {
			return g, fmt.Errorf("end %s's earlier bundle: %w", g.Name, err)
		}
		g.Replaced = toks + certs
	}
	if err := t.record(g.Cert, now); err != nil {
		return g, err
	}
	if g.Token, err = t.tokens.Add(g.Kind, g.Name, now); err != nil {
		return g, err
	}
	return g, nil
}

// Enroll spends a use of joinToken on the host certificate certPEM names
// and grants it: the host's earlier credentials end, the certificate is
// recorded and a host token added. A join token's refusal is one of
// token's ErrJoin errors, and Grant.Name is empty; once the token is spent,
// Grant.Name is the host and a later failure gives the use back. then, if
// set, runs before the lock is released (the detector watches the host
// again, ordered against a racing `host remove`).
func (t *Trust) Enroll(ctx context.Context, joinToken string, certPEM []byte, now time.Time, then func(host string)) (Grant, error) {
	g, err := parse(certPEM)
	if err != nil {
		return Grant{}, err
	}
	if g.Kind != token.KindHost {
		return Grant{}, fmt.Errorf("enroll: %s is not a host certificate", g.Name)
	}
	unlock, err := t.lock(ctx)
	if err != nil {
		return Grant{}, err
	}
	defer unlock()
	if err := t.tokens.ConsumeJoin(joinToken, g.Name, now); err != nil {
		return Grant{}, err
	}
	fail := func(err error) (Grant, error) {
		if rerr := t.tokens.ReleaseJoin(joinToken, g.Name); rerr != nil {
			err = fmt.Errorf("%w; giving the join token's use back: %v", err, rerr)
		}
		return g, err
	}
	toks, certs, err := t.revoke(g.Kind, g.Name, "enrolled again", now)
	if err != nil {
		return fail(err)
	}
	g.Replaced = toks + certs
	if err := t.record(g.Cert, now); err != nil {
		return fail(err)
	}
	if g.Token, err = t.tokens.Add(g.Kind, g.Name, now); err != nil {
		return fail(err)
	}
	if then != nil {
		then(g.Name)
	}
	return g, nil
}

// Renew records certPEM, signed for the host that presented its current
// certificate. expired says presented is past its NotAfter (within the
// grace period the caller allows): then only the newest certificate the
// ledger records for the host may renew (ErrSuperseded).
func (t *Trust) Renew(ctx context.Context, presented *x509.Certificate, expired bool, certPEM []byte, now time.Time) (Grant, error) {
	g, err := parse(certPEM)
	if err != nil {
		return Grant{}, err
	}
	unlock, err := t.lock(ctx)
	if err != nil {
		return Grant{}, err
	}
	defer unlock()
	// Checked under the lock, with the record below: two renewals of one
	// expired certificate cannot both pass as the newest.
	if expired && !t.newest(g.Name, presented) {
		return Grant{}, ErrSuperseded
	}
	issued, err := t.state.IssuedTo(g.Name)
	if err != nil {
		return Grant{}, fmt.Errorf("read the CA's ledger: %w", err)
	}
	// The presented one too: it may predate the ledger.
	g.Earlier = []string{pki.Serial(presented)}
	for _, c := range issued {
		if c.Kind == token.KindHost && !slices.Contains(g.Earlier, c.Serial) {
			g.Earlier = append(g.Earlier, c.Serial)
		}
	}
	if err := t.record(g.Cert, now); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// Retire revokes the certificates with serials that host held before
// the renewed one it now uses (Grant.Earlier): after a renewal only the
// new certificate should open the receiver, but not before the host has
// shown it holds it.
func (t *Trust) Retire(ctx context.Context, host string, serials []string, now time.Time) error {
	unlock, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	rev := make([]pki.Revoked, len(serials))
	for i, serial := range serials {
		rev[i] = pki.Revoked{Serial: serial, Host: host, At: now.UTC(), Why: "renewed"}
	}
	if err := t.state.Revoke(rev...); err != nil {
		return fmt.Errorf("write the revocation list: %w", err)
	}
	return nil
}

// Unretired is, per host, the newest host certificate the ledger records
// and the earlier ones still valid by now and not revoked: what renewals
// left for Retire when the receiver stopped before the host used the new
// certificate.
func (t *Trust) Unretired(revoked func(serial string) bool, now time.Time) (map[string]Renewal, error) {
	ledger, err := t.state.Ledger()
	if err != nil {
		return nil, fmt.Errorf("read the CA's ledger: %w", err)
	}
	out := map[string]Renewal{}
	for _, c := range ledger {
		if c.Kind != token.KindHost {
			continue
		}
		r := out[c.Name]
		if r.Next != "" && now.Before(r.nextNotAfter) && !revoked(r.Next) {
			r.Earlier = append(r.Earlier, r.Next)
		}
		r.Next, r.nextNotAfter = c.Serial, c.NotAfter
		out[c.Name] = r
	}
	for host, r := range out {
		if len(r.Earlier) == 0 {
			delete(out, host)
		}
	}
	return out, nil
}

// Renewal is a host's renewed certificate (Next) and the earlier ones it
// retires once used.
type Renewal struct {
	Next         string
	Earlier      []string
	nextNotAfter time.Time
}

// RevokeHost revokes host's tokens and every host certificate the ledger
// says it issued the host. then, if set, runs before the lock is released
// (`host remove` marks the host removed) and its error is returned.
func (t *Trust) RevokeHost(ctx context.Context, host, why string, now time.Time, then func() error) (tokens, certs int, err error) {
	unlock, err := t.lock(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	if tokens, certs, err = t.revoke(token.KindHost, host, why, now); err != nil {
		return tokens, certs, err
	}
	if then != nil {
		err = then()
	}
	return tokens, certs, err
}

// RevokeAdmin revokes an admin's tokens and every admin certificate the
// CA issued it: the API and the dashboard refuse them at once.
func (t *Trust) RevokeAdmin(ctx context.Context, name, why string, now time.Time) (tokens, certs int, err error) {
	unlock, err := t.lock(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	return t.revoke(token.KindAdmin, name, why, now)
}

// AdminCertified reports whether the ledger shows admin name holding a
// certificate that is neither expired nor revoked (the dashboard's token
// login asks: an admin whose certificates are gone is gone). It reads
// without the lock: a reader sees the ledger before or after a change.
func (t *Trust) AdminCertified(name string, revoked pki.RevocationList, now time.Time) bool {
	issued, err := t.state.IssuedTo(name)
	if err != nil {
		return false
	}
	for _, c := range issued {
		if c.Kind == token.KindAdmin && now.Before(c.NotAfter) && (revoked == nil || !revoked.HasSerial(c.Serial)) {
			return true
		}
	}
	return false
}

// revoke ends name's tokens and certificates of kind; the lock is held.
func (t *Trust) revoke(kind, name, why string, now time.Time) (tokens, certs int, err error) {
	if tokens, err = t.tokens.RevokeName(kind, name); err != nil {
		return 0, 0, err
	}
	issued, err := t.state.IssuedTo(name)
	if err != nil {
		return tokens, 0, fmt.Errorf("read the CA's ledger: %w", err)
	}
	var rev []pki.Revoked
	for _, c := range issued {
		if c.Kind == kind {
			rev = append(rev, pki.Revoked{Serial: c.Serial, Host: name, At: now.UTC(), Why: why})
		}
	}
	if len(rev) > 0 {
		if err := t.state.Revoke(rev...); err != nil {
			return tokens, 0, fmt.Errorf("write the revocation list: %w", err)
		}
	}
	return tokens, len(rev), nil
}

// record puts cert into the ledger: what revocations find by serial, and
// what a dashboard login checks an admin holds.
func (t *Trust) record(cert *x509.Certificate, now time.Time) error {
	kind, name := pki.Identify(cert)
	return t.state.Record(pki.Issued{Serial: pki.Serial(cert), Kind: kind.String(), Name: name,
		NotAfter: cert.NotAfter, At: now.UTC()})
}

// newest: cert is the last host certificate the ledger records for host
// (a host the ledger does not know, set up before it, passes).
func (t *Trust) newest(host string, cert *x509.Certificate) bool {
	issued, err := t.state.IssuedTo(host)
	if err != nil {
		return false
	}
	var last string
	for _, c := range issued {
		if c.Kind == token.KindHost {
			last = c.Serial
		}
	}
	return last == "" || last == pki.Serial(cert)
}

func parse(certPEM []byte) (Grant, error) {
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		return Grant{}, err
	}
	kind, name := pki.Identify(cert)
	return Grant{Cert: cert, Kind: kind.String(), Name: name}, nil
}

package trust_test

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

func setup(t *testing.T) (*trust.Trust, *pki.CA, datadir.Dir) {
	t.Helper()
	d := datadir.Dir(t.TempDir())
	ca, err := pki.Init(d.CA(), []string{"receiver.test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return trust.Local(string(d)), ca, d
}

func revoked(t *testing.T, d datadir.Dir, c *x509.Certificate) bool {
	t.Helper()
	r, err := pki.OpenRevocations(d.Revoked())
	if err != nil {
		t.Fatal(err)
	}
	return r.Has(c)
}

// TestIssueReplacesAHostsBundle: a host has one bundle (issuing again
// revokes the earlier token and certificate); an admin may hold several;
// IssueAlongside keeps the earlier one.
func TestIssueReplacesAHostsBundle(t *testing.T) {
	tr, ca, d := setup(t)
	now := time.Now()
	issue := func(f func(context.Context, []byte, time.Time) (trust.Grant, error), c []byte) trust.Grant {
		t.Helper()
		g, err := f(t.Context(), c, now)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	c1, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	first := issue(tr.Issue, c1)
	if first.Replaced != 0 || first.Kind != token.KindHost || first.Name != "lab-1" || first.Token == "" {
		t.Fatalf("first issue %+v", first)
	}
	c2, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	second := issue(tr.Issue, c2)
	if second.Replaced != 2 || !revoked(t, d, first.Cert) || revoked(t, d, second.Cert) {
		t.Fatalf("issued again: %d replaced, first revoked %v", second.Replaced, revoked(t, d, first.Cert))
	}
	c3, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	if g := issue(tr.IssueAlongside, c3); g.Replaced != 0 || revoked(t, d, second.Cert) {
		t.Fatalf("issued alongside: %+v", g)
	}
	a1, _, _ := ca.IssueAdmin("alice", time.Hour, now)
	a2, _, _ := ca.IssueAdmin("alice", time.Hour, now)
	if g := issue(tr.Issue, a1); g.Kind != token.KindAdmin {
		t.Fatalf("admin issue %+v", g)
	}
	if g := issue(tr.Issue, a2); g.Replaced != 0 {
		t.Fatalf("a second admin certificate replaced %d", g.Replaced)
	}
}

// TestRevokeAdmin: an admin's certificates and tokens end; it no longer
// counts as certified, and a host of the same name is untouched.
func TestRevokeAdmin(t *testing.T) {
	tr, ca, d := setup(t)
	now := time.Now()
	a, _, _ := ca.IssueAdmin("alice", time.Hour, now)
	h, _, _ := ca.IssueHost("alice", time.Hour, now)
	ga, _ := tr.Issue(t.Context(), a, now)
	gh, _ := tr.Issue(t.Context(), h, now)
	rev, err := pki.OpenRevocations(d.Revoked())
	if err != nil {
		t.Fatal(err)
	}
	if !tr.AdminCertified("alice", rev, now) || tr.AdminCertified("bob", rev, now) {
		t.Fatal("certified before the revocation")
	}
	if tr.AdminCertified("alice", rev, now.Add(2*time.Hour)) {
		t.Fatal("certified after the certificate expired")
	}
	toks, certs, err := tr.RevokeAdmin(t.Context(), "alice", "revoked", now)
	if err != nil || toks != 1 || certs != 1 {
		t.Fatalf("revoke: %d %d %v", toks, certs, err)
	}
	time.Sleep(250 * time.Millisecond) // the list is re-read at most every 200 ms
	if tr.AdminCertified("alice", rev, now) || !revoked(t, d, ga.Cert) || revoked(t, d, gh.Cert) {
		t.Fatal("after the revocation")
	}
}

// TestRenewSuperseded: past expiry only the newest certificate renews.
func TestRenewSuperseded(t *testing.T) {
	tr, ca, _ := setup(t)
	now := time.Now()
	old, _, _ := ca.IssueHost("lab-1", time.Hour, now.Add(-2*time.Hour))
	gOld, _ := tr.IssueAlongside(t.Context(), old, now)
	newer, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	tr.IssueAlongside(t.Context(), newer, now)
	next, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	if _, err := tr.Renew(t.Context(), gOld.Cert, true, next, now); !errors.Is(err, trust.ErrSuperseded) {
		t.Fatalf("an old expired certificate renewing: %v", err)
	}
	if g, err := tr.Renew(t.Context(), gOld.Cert, false, next, now); err != nil || g.Token != "" {
		t.Fatalf("a certificate not expired renewing: %+v %v", g, err)
	}
}

// TestEnrollWaitsForTheLock: an enrollment spends its join token only
// once the lock is free, and a refused token names no host.
func TestEnrollWaitsForTheLock(t *testing.T) {
	tr, ca, d := setup(t)
	now := time.Now()
	join, err := token.Files(d.Tokens()).AddJoin(ca.Fingerprint(), "lab-1", 1, now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	unlock, err := trust.Files(d).Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		g   trust.Grant
		err error
	}
	done := make(chan result, 1)
	var told string
	go func() {
		g, err := tr.Enroll(t.Context(), join, c, now, func(h string) { told = h })
		done <- result{g, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("enrolled while the lock was held: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	if r := <-done; r.err != nil || r.g.Name != "lab-1" || r.g.Token == "" || told != "lab-1" {
		t.Fatalf("enroll: %+v %v (told %q)", r.g, r.err, told)
	}
	g, err := tr.Enroll(t.Context(), join, c, now, nil)
	if !errors.Is(err, token.ErrJoinUsed) || g.Name != "" {
		t.Fatalf("the spent token again: %+v %v", g, err)
	}
}

// TestUnretiredAfterRestart: renewals whose new certificate was not yet
// used when the receiver stopped are found again in the ledger, so the
// earlier certificates still end on the new one's first use; a host
// re-enrolled (earlier ones revoked already) has nothing left to retire.
func TestUnretiredAfterRestart(t *testing.T) {
	tr, ca, d := setup(t)
	now := time.Now()
	a, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	ga, err := tr.Issue(t.Context(), a, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := ca.IssueHost("lab-1", time.Hour, now)
	gb, err := tr.Renew(t.Context(), ga.Cert, false, b, now)
	if err != nil || len(gb.Earlier) != 1 || gb.Earlier[0] != pki.Serial(ga.Cert) {
		t.Fatalf("renew: %+v %v", gb, err)
	}
	h, _, _ := ca.IssueHost("lab-2", time.Hour, now)
	tr.Issue(t.Context(), h, now)
	h2, _, _ := ca.IssueHost("lab-2", time.Hour, now)
	tr.Issue(t.Context(), h2, now) // issued again: the first is revoked
	rev, err := pki.OpenRevocations(d.Revoked())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Unretired(rev.HasSerial, now)
	if err != nil {
		t.Fatal(err)
	}
	want := trust.Renewal{Next: pki.Serial(gb.Cert), Earlier: []string{pki.Serial(ga.Cert)}}
	if len(got) != 1 || got["lab-1"].Next != want.Next || !slices.Equal(got["lab-1"].Earlier, want.Earlier) {
		t.Fatalf("unretired %+v, want only lab-1: %+v", got, want)
	}
	if err := tr.Retire(t.Context(), "lab-1", want.Earlier, now); err != nil {
		t.Fatal(err)
	}
	if !revoked(t, d, ga.Cert) || revoked(t, d, gb.Cert) {
		t.Fatal("retiring revoked the wrong certificate")
	}
}

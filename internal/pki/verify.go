package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// Refusal reasons, as written to the index.
const (
	ReasonNoCert       = wire.ReasonNoCert
	ReasonCertExpired  = wire.ReasonCertExpired
	ReasonCertNotYet   = wire.ReasonCertNotYet
	ReasonCertUnknown  = wire.ReasonCertUnknown
	ReasonCertBadUsage = wire.ReasonCertBadUsage
	ReasonCertRevoked  = wire.ReasonCertRevoked
)

// Verdict is what the receiver learnt from a presented client certificate.
type Verdict struct {
	Kind     Kind   // KindHost or KindAdmin when OK
	Name     string // canonical host or admin name when OK
	CertHost string // host named by a certificate the CA signed, even an expired one
	Reason   string // empty when OK, else one of the Reason* codes
	Message  string // one sentence for the client, empty when OK
	NotAfter time.Time
}

// OK reports whether the certificate authenticates a host or an admin.
func (v Verdict) OK() bool { return v.Reason == "" }

// Verifier checks client certificates against the fleet CA, per request.
type Verifier struct {
	ca      *x509.Certificate
	pool    *x509.CertPool
	revoked RevocationList // nil: none
}

// RevocationList is what the verifier asks on every request: whether the
// certificate with serial is revoked, answered from memory. *Revocations
// keeps the list in data_dir; a shared database keeps another.
type RevocationList interface {
	HasSerial(serial string) bool
}

// WithRevocations makes v refuse the certificates on r.
func (v *Verifier) WithRevocations(r RevocationList) *Verifier {
	v.revoked = r
	return v
}

func (v *Verifier) has(c *x509.Certificate) bool {
	return c != nil && v.RevokedSerial(Serial(c))
}

// Revoked reports whether the chain's leaf is on the revocation list
// (Verify checks it too); the receiver asks on every request over a
// connection whose verdict it cached.
func (v *Verifier) Revoked(chain []*x509.Certificate) bool {
	return len(chain) > 0 && v.has(chain[0])
}

// RevokedSerial reports whether the certificate with serial is on the
// revocation list.
func (v *Verifier) RevokedSerial(serial string) bool {
	return v.revoked != nil && v.revoked.HasSerial(serial)
}

// RevokedVerdict is what a revoked certificate gets.
func RevokedVerdict(host string) Verdict {
	return Verdict{Reason: ReasonCertRevoked, CertHost: host,
		Message: "this certificate was revoked (the host was removed or enrolled again); enroll it again with a join token: cis490 enroll"}
}

// NewVerifier trusts exactly ca.
func NewVerifier(ca *x509.Certificate) *Verifier {
	p := x509.NewCertPool()
	p.AddCert(ca)
	return &Verifier{ca: ca, pool: p}
}

// Verify checks the peer chain (leaf first) as of now.
func (v *Verifier) Verify(chain []*x509.Certificate, now time.Time) Verdict {
	if len(chain) == 0 {
		return Verdict{Reason: ReasonNoCert, Message: "no client certificate was presented; configure this host's certificate and key (tls.cert, tls.key in lab-host.toml)"}
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: v.pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	_, err := leaf.Verify(opts)
	kind, name := Identify(leaf)
	if err == nil {
		vd := Verdict{Kind: kind, Name: name, NotAfter: leaf.NotAfter}
		switch kind {
		case KindHost:
			vd.CertHost = name
		case KindAdmin:
		default:
			vd.Reason, vd.Message = ReasonCertBadUsage, "the client certificate was signed by the fleet CA but names neither a host nor an admin; issue one with `cis490 ca issue`"
		}
		if vd.OK() && v.has(leaf) {
			return RevokedVerdict(vd.CertHost)
		}
		return vd
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		// Was it ours? Check the CA's signature, so the failure is
		// attributed to the host the CA really signed it for and to no other.
		if leaf.CheckSignatureFrom(v.ca) != nil {
			return Verdict{Reason: ReasonCertUnknown, Message: "the client certificate was not issued by this fleet's CA (and has also expired); install the certificate from `cis490 ca issue`"}
		}
		vd := Verdict{NotAfter: leaf.NotAfter}
		if kind == KindHost {
			vd.CertHost = name
		}
		if now.Before(leaf.NotBefore) {
			vd.Reason = ReasonCertNotYet
			vd.Message = fmt.Sprintf("the client certificate is not valid until %s; check this host's clock", leaf.NotBefore.UTC().Format(time.RFC3339))
			return vd
		}
		if v.has(leaf) { // an expired certificate that was revoked may not renew
			return RevokedVerdict(vd.CertHost)
		}
		vd.Reason = ReasonCertExpired
		vd.Message = fmt.Sprintf("the client certificate expired at %s; renew it (cis490 cert-fetch) or issue a new one with `cis490 ca issue --host %s`", leaf.NotAfter.UTC().Format(time.RFC3339), nameOr(name, "NAME"))
		return vd
	}
	if errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage {
		return Verdict{Reason: ReasonCertBadUsage, Message: "the certificate presented is not a client certificate (it may be the receiver's own); use the host certificate from `cis490 ca issue`"}
	}
	return Verdict{Reason: ReasonCertUnknown, Message: "the client certificate was not issued by this fleet's CA; install the certificate from `cis490 ca issue` for this receiver"}
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

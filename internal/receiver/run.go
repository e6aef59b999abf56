package receiver

import (
	"crypto/x509"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
)

// RecordIssued puts a certificate the CA just signed into its ledger (what
// `host remove` and `ca revoke --admin` revoke by serial, and what a
// dashboard login checks an admin holds) and returns it parsed.
func RecordIssued(dataDir string, certPEM []byte, now time.Time) (*x509.Certificate, error) {
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	kind, name := pki.Identify(cert)
	return cert, pki.Record(datadir.Dir(dataDir).Issued(), pki.Issued{Serial: pki.Serial(cert), Kind: kind.String(), Name: name,
		NotAfter: cert.NotAfter, At: now.UTC()})
}

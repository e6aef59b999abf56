package receiverd

import (
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/vfs"
)

// renewServerCert renews the receiver's own certificate, the way hosts
// renew theirs, once a third of its life is left: the CA (here, beside
// it) signs a new one for the same names, and the key and certificate are
// replaced (key first; the reloader keeps the old pair until they match).
// It reports whether it renewed.
func renewServerCert(ca *pki.CA, certPath, keyPath string, now time.Time) (bool, error) {
	cur, err := pki.LoadCert(certPath)
	if err != nil {
		return false, err
	}
	life := cur.NotAfter.Sub(cur.NotBefore)
	if now.Before(cur.NotAfter.Add(-life / 3)) {
		return false, nil
	}
	names := append([]string{}, cur.DNSNames...)
	for _, ip := range cur.IPAddresses {
		names = append(names, ip.String())
	}
	certPEM, keyPEM, err := ca.IssueServer(names, pki.ServerLifetime, now)
	if err != nil {
		return false, fmt.Errorf("renew the receiver's certificate: %w", err)
	}
	if err := vfs.WriteFileAtomic(vfs.OS{}, keyPath, keyPEM, 0o600); err != nil {
		return false, err
	}
	if err := vfs.WriteFileAtomic(vfs.OS{}, certPath, certPEM, 0o644); err != nil {
		return false, err
	}
	return true, nil
}

package receiverd

import (
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/pki"
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
	// The names on disk, not the config's: `cis490 ca server-cert` may
	// have changed them since this receiver started.
	if err := ca.ReplaceServer(certPath, keyPath, pki.NamesOf(cur), now); err != nil {
		return false, fmt.Errorf("renew the receiver's certificate: %w", err)
	}
	return true, nil
}

package pki

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// ReplaceServer issues the receiver a new server certificate for names and
// puts it and its new key at certPath and keyPath: the key first, each file
// swapped in whole, so a receiver reloading between the two keeps serving
// the old pair until the new one matches.
func (ca *CA) ReplaceServer(certPath, keyPath string, names []string, now time.Time) error {
	if len(names) == 0 {
		return fmt.Errorf("the receiver needs at least one server name for its certificate")
	}
	certPEM, keyPEM, err := ca.IssueServer(names, ServerLifetime, now)
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(vfs.OS{}, keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.OS{}, certPath, certPEM, 0o644)
}

// NamesOf lists the DNS names, then the addresses, a server certificate
// covers, as server_names spells them.
func NamesOf(c *x509.Certificate) []string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

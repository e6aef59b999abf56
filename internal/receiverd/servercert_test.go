package receiverd

import (
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/pki"
)

// TestRenewServerCert: nothing happens before two thirds of the life;
// after, a new certificate for the same names, over a new key, that the
// CA signed.
func TestRenewServerCert(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Init(dir, []string{"receiver.lab", "10.0.0.2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, pki.ServerCertFile), filepath.Join(dir, pki.ServerKeyFile)
	before, _ := pki.LoadCert(certPath)
	if ok, err := renewServerCert(ca, certPath, keyPath, time.Now().Add(200*24*time.Hour)); ok || err != nil {
		t.Fatalf("renewed early: %v %v", ok, err)
	}
	if ok, err := renewServerCert(ca, certPath, keyPath, time.Now().Add(300*24*time.Hour)); !ok || err != nil {
		t.Fatalf("not renewed when due: %v %v", ok, err)
	}
	after, err := pki.LoadCert(certPath)
	if err != nil || after.SerialNumber.Cmp(before.SerialNumber) == 0 || after.CheckSignatureFrom(ca.Cert) != nil ||
		len(after.DNSNames) != 1 || after.DNSNames[0] != "receiver.lab" || len(after.IPAddresses) != 1 || !after.NotAfter.After(before.NotAfter) {
		t.Fatalf("renewed certificate %+v, %v", after, err)
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Fatalf("the new key and certificate do not pair: %v", err)
	}
}

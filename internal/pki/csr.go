package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/names"
)

// ParseCSR reads a PEM certificate request and checks its signature (the
// requester holds the key).
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request's signature does not check: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, errors.New("the key is on a curve this CA does not sign; use P-256")
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("the RSA key is shorter than 2048 bits; use P-256")
		}
	default:
		return nil, errors.New("a key of a kind this CA does not sign; use P-256")
	}
	return csr, nil
}

// SignHostCSR issues a host certificate for host over the CSR's public
// key. Nothing else of the CSR is taken: whatever names, usages or
// extensions it asks for, the certificate names exactly host, for client
// auth only, and never the receiver's own names.
func (ca *CA) SignHostCSR(csr *x509.CertificateRequest, host string, lifetime time.Duration, now time.Time) (certPEM []byte, serial string, err error) {
	canon, err := names.Host(host)
	if err != nil {
		return nil, "", err
	}
	for _, s := range ca.ServerNames {
		if n, _ := names.Host(s); n == canon {
			return nil, "", fmt.Errorf("%q is the receiver's own name; a host certificate may not carry it", canon)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          mustSerial(),
		Subject:               pkix.Name{CommonName: canon, OrganizationalUnit: []string{OUHost}},
		DNSNames:              []string{canon},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(lifetime),
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, "", fmt.Errorf("sign certificate for %s: %w", canon, err)
	}
	return encodeCert(der), Serial(tmpl), nil
}

// Serial is a certificate's serial number as the revocation list keeps it.
func Serial(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// ParseCertPEM reads the first certificate of PEM bytes.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// NewCSR makes a fresh key, which never leaves the host, and a request for
// host over it.
func NewCSR(host string) (csrPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), keyPEM, nil
}

// PinnedTLS verifies a receiver by the CA whose SHA-256 fingerprint (hex)
// a join token carries: the receiver sends that CA after its own
// certificate, and the CA must sign a server certificate for serverName.
func PinnedTLS(fingerprint, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         serverName,
		InsecureSkipVerify: true, // replaced by VerifyConnection: the pin, not the system roots
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if FingerprintOf(c) == fingerprint {
					ca = c
				}
			}
			if ca == nil {
				return errors.New("the receiver's CA is not the one the join token names (wrong receiver, or someone in between)")
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: serverName,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("the receiver's certificate is not its CA's for %s: %w", serverName, err)
			}
			return nil
		},
	}
}

// FingerprintOf is a certificate's SHA-256, hex.
func FingerprintOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

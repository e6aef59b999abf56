// Package pki is the fleet CA: it makes the CA and the receiver's server
// certificate, issues host and admin client certificates, and tells who a
// presented certificate names.
//
// The CA decides what it signs, whatever was asked: a host certificate names
// exactly one host (CN and DNS SAN) and is for client auth only; an admin
// certificate is marked as an admin's (OU cis490-admin) and carries no DNS
// name, so it can never pass as a host; the server certificate is for server
// auth only, so it can never pass as a client.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cis490/cis490/internal/names"
)

// Organizational units that mark what a certificate is for.
const (
	OUHost   = "cis490-host"
	OUAdmin  = "cis490-admin"
	OUServer = "cis490-receiver"
)

// Default lifetimes.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 365 * 24 * time.Hour
	HostLifetime   = 90 * 24 * time.Hour
)

// Files in a CA folder.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// CA is a loaded fleet CA.
type CA struct {
	Cert        *x509.Certificate
	Key         crypto.Signer
	ServerNames []string // names on the receiver's certificate; no host may take them
}

// ErrCAExists: Init found a CA where it would make one.
var ErrCAExists = errors.New("a CA already exists")

// Exists reports whether dir holds a CA: its key or its certificate (the
// key may be kept off the receiver), either one.
func Exists(dir string) bool {
	for _, f := range []string{CAKeyFile, CACertFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// Init creates a fleet CA and the receiver's server certificate for
// serverNames in dir. It refuses to overwrite an existing CA.
func Init(dir string, serverNames []string, now time.Time) (*CA, error) {
	if len(serverNames) == 0 {
		return nil, errors.New("the receiver needs at least one server name for its certificate")
	}
	if Exists(dir) {
		return nil, fmt.Errorf("%w in %s", ErrCAExists, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA folder: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          mustSerial(),
		Subject:               pkix.Name{CommonName: "cis490 fleet CA", Organization: []string{"cis490"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, ServerNames: serverNames}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, CACertFile), encodeCert(der), 0o644); err != nil {
		return nil, err
	}
	certPEM, srvKeyPEM, err := ca.IssueServer(serverNames, ServerLifetime, now)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, ServerKeyFile), srvKeyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, ServerCertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// Load reads the CA in dir; the server names come from its server certificate.
func Load(dir string) (*CA, error) {
	cert, err := LoadCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read CA key (is this the receiver, and did `cis490 ca init` run?): %w", err)
	}
	key, err := decodeKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CAKeyFile), err)
	}
	ca := &CA{Cert: cert, Key: key}
	if srv, err := LoadCert(filepath.Join(dir, ServerCertFile)); err == nil {
		ca.ServerNames = NamesOf(srv)
	}
	return ca, nil
}

// CertPEM is the CA certificate, PEM-encoded, as hosts install it.
func (ca *CA) CertPEM() []byte { return encodeCert(ca.Cert.Raw) }

// Fingerprint is the SHA-256 of the CA certificate, hex: what a new host pins.
func (ca *CA) Fingerprint() string { return FingerprintOf(ca.Cert) }

// IssueServer issues the receiver's certificate: server auth only.
func (ca *CA) IssueServer(serverNames []string, lifetime time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: serverNames[0], OrganizationalUnit: []string{OUServer}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range serverNames {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return ca.issue(tmpl, lifetime, now)
}

// IssueHost issues a client certificate naming exactly host.
func (ca *CA) IssueHost(host string, lifetime time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	canon, err := names.Host(host)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range ca.ServerNames {
		if names, _ := names.Host(s); names == canon {
			return nil, nil, fmt.Errorf("%q is the receiver's own name; a host certificate may not carry it", canon)
		}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: canon, OrganizationalUnit: []string{OUHost}},
		DNSNames:    []string{canon},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, lifetime, now)
}

// IssueAdmin issues an admin client certificate. It carries no DNS name, so
// it can never be read as a host's.
func (ca *CA) IssueAdmin(name string, lifetime time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	canon, err := names.Host(name)
	if err != nil {
		return nil, nil, fmt.Errorf("admin name: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: canon, OrganizationalUnit: []string{OUAdmin}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, lifetime, now)
}

func (ca *CA) issue(tmpl *x509.Certificate, lifetime time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = mustSerial()
	tmpl.NotBefore = now.Add(-5 * time.Minute) // tolerate a host clock slightly behind
	tmpl.NotAfter = now.Add(lifetime)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// Kind says what a certificate is for.
type Kind int

// Certificate kinds.
const (
	KindUnknown Kind = iota
	KindHost
	KindAdmin
	KindServer
)

func (k Kind) String() string {
	return [...]string{"unknown", "host", "admin", "receiver"}[k]
}

// Identify reads what a CA-issued certificate names. A host certificate must
// carry its name as both CN and its only DNS SAN.
func Identify(c *x509.Certificate) (Kind, string) {
	ou := c.Subject.OrganizationalUnit
	switch {
	case slices.Contains(ou, OUHost) && len(c.DNSNames) == 1 && c.DNSNames[0] == c.Subject.CommonName:
		if name, err := names.Host(c.Subject.CommonName); err == nil {
			return KindHost, name
		}
	case slices.Contains(ou, OUAdmin) && len(c.DNSNames) == 0:
		if name, err := names.Host(c.Subject.CommonName); err == nil {
			return KindAdmin, name
		}
	case slices.Contains(ou, OUServer):
		return KindServer, c.Subject.CommonName
	}
	return KindUnknown, ""
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

func mustSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func decodeKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key found")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("key cannot sign")
	}
	return s, nil
}

// LoadCert reads the first certificate of a PEM file.
func LoadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// writeFile writes a new file with perm, refusing to follow an existing one.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// WriteFile is writeFile for the CLI's bundles.
func WriteFile(path string, data []byte, perm os.FileMode) error { return writeFile(path, data, perm) }

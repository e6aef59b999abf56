package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWhatTheCASigns(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	ca, err := Init(dir, []string{"receiver.lab", "10.0.0.2"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAKeyFile, ServerKeyFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v, %v; want 0600", f, st.Mode(), err)
		}
	}
	srv, err := LoadCert(filepath.Join(dir, ServerCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(srv.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || srv.IsCA {
		t.Fatalf("server certificate usages %v: want server auth only", srv.ExtKeyUsage)
	}
	if len(srv.IPAddresses) != 1 || !slices.Equal(srv.DNSNames, []string{"receiver.lab"}) {
		t.Fatalf("server certificate names %v %v", srv.DNSNames, srv.IPAddresses)
	}

	hostPEM, hostKey, err := ca.IssueHost("Lab-7", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(hostPEM, hostKey)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := x509.ParseCertificate(pair.Certificate[0])
	if host.Subject.CommonName != "lab-7" || !slices.Equal(host.DNSNames, []string{"lab-7"}) ||
		!slices.Equal(host.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || host.IsCA {
		t.Fatalf("host certificate: CN %q, DNS %v, usages %v; want exactly lab-7, client auth only",
			host.Subject.CommonName, host.DNSNames, host.ExtKeyUsage)
	}
	if k, n := Identify(host); k != KindHost || n != "lab-7" {
		t.Fatalf("Identify(host) = %v %q", k, n)
	}
	// A host certificate can never pass as the receiver.
	if _, err := host.Verify(x509.VerifyOptions{Roots: pool(ca.Cert), DNSName: "lab-7"}); err == nil {
		t.Fatal("a host certificate verified as a server certificate")
	}
	for _, name := range []string{"receiver.lab", "RECEIVER.lab"} {
		if _, _, err := ca.IssueHost(name, time.Hour, now); err == nil || !strings.Contains(err.Error(), "receiver's own name") {
			t.Fatalf("IssueHost(%q) = %v; want a refusal", name, err)
		}
	}
	for _, name := range []string{"", "a/b", "..", "lab_1", "ü"} {
		if _, _, err := ca.IssueHost(name, time.Hour, now); err == nil {
			t.Fatalf("IssueHost(%q) succeeded", name)
		}
	}

	adminPEM, _, err := ca.IssueAdmin("alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := x509.ParseCertificate(mustDER(t, adminPEM))
	if len(admin.DNSNames) != 0 {
		t.Fatalf("admin certificate carries DNS names %v; it must never pass as a host", admin.DNSNames)
	}
	if k, n := Identify(admin); k != KindAdmin || n != "alice" {
		t.Fatalf("Identify(admin) = %v %q", k, n)
	}
	if k, _ := Identify(srv); k != KindServer {
		t.Fatalf("Identify(server) = %v", k)
	}

	if _, err := Init(dir, []string{"x"}, now); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second Init = %v; must never replace a CA", err)
	}
	again, err := Load(dir)
	if err != nil || again.Fingerprint() != ca.Fingerprint() || len(again.Fingerprint()) != 64 {
		t.Fatalf("Load: %v, fingerprint %q vs %q", err, again.Fingerprint(), ca.Fingerprint())
	}
	if !slices.Contains(again.ServerNames, "receiver.lab") {
		t.Fatalf("loaded server names %v", again.ServerNames)
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	ca, _ := Init(t.TempDir(), []string{"receiver.lab"}, now)
	other, _ := Init(t.TempDir(), []string{"evil.lab"}, now)
	v := NewVerifier(ca.Cert)
	cert := func(c *CA, host string, issued time.Time, life time.Duration) *x509.Certificate {
		p, _, err := c.IssueHost(host, life, issued)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(mustDER(t, p))
		return x
	}
	tests := []struct {
		name     string
		chain    []*x509.Certificate
		reason   string
		certHost string
		says     string
	}{
		{"good", []*x509.Certificate{cert(ca, "lab-1", now, time.Hour)}, "", "lab-1", ""},
		{"none", nil, ReasonNoCert, "", "no client certificate"},
		{"expired", []*x509.Certificate{cert(ca, "lab-1", now.Add(-72*time.Hour), time.Hour)}, ReasonCertExpired, "lab-1", "expired at"},
		{"not yet valid", []*x509.Certificate{cert(ca, "lab-1", now.Add(2*time.Hour), time.Hour)}, ReasonCertNotYet, "lab-1", "not valid until"},
		{"foreign", []*x509.Certificate{cert(other, "lab-1", now, time.Hour)}, ReasonCertUnknown, "", "not issued by this fleet"},
		{"foreign and expired", []*x509.Certificate{cert(other, "lab-1", now.Add(-72*time.Hour), time.Hour)}, ReasonCertUnknown, "", "not issued by this fleet"},
	}
	for _, tt := range tests {
		got := v.Verify(tt.chain, now)
		if got.Reason != tt.reason || got.CertHost != tt.certHost || !strings.Contains(got.Message, tt.says) {
			t.Errorf("%s: %+v; want reason %q cert_host %q message ~%q", tt.name, got, tt.reason, tt.certHost, tt.says)
		}
	}
}

func pool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func mustDER(t *testing.T, certPEM []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		t.Fatal("no PEM certificate")
	}
	return blk.Bytes
}

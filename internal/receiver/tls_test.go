package receiver

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
)

// TestTLS12OffersOnlyAEAD: a TLS 1.2 client that speaks only CBC suites
// (SHA-1 or SHA-256 MAC) gets no handshake; one offering AES-GCM does.
func TestTLS12OffersOnlyAEAD(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	addr := strings.TrimPrefix(f.url, "https://")
	for _, tc := range []struct {
		name   string
		suites []uint16
		ok     bool
	}{
		{"cbc", []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		}, false},
		{"gcm", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: f.caPool, ServerName: "receiver.test",
				MaxVersion: tls.VersionTLS12, CipherSuites: tc.suites}
			conn, err := tls.Dial("tcp", addr, cfg)
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("TLS 1.2 handshake offering %s suites: err %v, want success %v", tc.name, err, tc.ok)
			}
		})
	}
}

// TestCertificateRequestNamesFleetCA: the receiver's certificate request
// names the fleet CA, so a client holding several certificates (a browser)
// offers its fleet one, while the receiver still lets every handshake
// through and judges the certificate per request.
func TestCertificateRequestNamesFleetCA(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var seen [][]byte
	cfg := &tls.Config{RootCAs: f.caPool, ServerName: "receiver.test",
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			seen = cri.AcceptableCAs
			return &tls.Certificate{}, nil // none: the handshake must still pass
		}}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(f.url, "https://"), cfg)
	if err != nil {
		t.Fatalf("a handshake without a client certificate: %v", err)
	}
	conn.Close()
	if len(seen) != 1 || !bytes.Equal(seen[0], f.ca.Cert.RawSubject) {
		t.Fatalf("acceptable CAs %q, want only the fleet CA %q", seen, f.ca.Cert.RawSubject)
	}
}

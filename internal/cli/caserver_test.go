package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCAServerCertChangesNamesNotTrust: after `ca init` with the wrong
// names, rerunning it points at `ca server-cert`, which gives the receiver
// a certificate for the new name from the same CA: a bundle issued before
// it completes a real TLS handshake with the receiver by that name.
func TestCAServerCertChangesNamesNotTrust(t *testing.T) {
	dir, cfg := withCA(t) // server_names = ["127.0.0.1"]
	caPath := filepath.Join(dir, "data", "ca", "ca.crt")
	caBefore, _ := os.ReadFile(caPath)
	bundle := filepath.Join(dir, "lab-1")
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", bundle); code != 0 {
		t.Fatal(errs)
	}

	code, _, errs := run(t, "ca", "init", "--config", cfg, "--server-name", "lab-pi.local")
	if code != 1 || !strings.Contains(errs, "to change the names the receiver's certificate covers, run `cis490 ca server-cert --config "+cfg+" --server-name NAME`") {
		t.Fatalf("ca init over a CA: exit %d %q; want it to name ca server-cert", code, errs)
	}

	code, out, errs := run(t, "ca", "server-cert", "--config", cfg, "--server-name", "lab-pi.local")
	if code != 0 || !strings.Contains(out, "the receiver's certificate now covers 127.0.0.1, lab-pi.local (it covered 127.0.0.1)") ||
		!strings.Contains(out, "add lab-pi.local to server_names in "+cfg) {
		t.Fatalf("ca server-cert: exit %d %q %q", code, out, errs)
	}
	if caAfter, _ := os.ReadFile(caPath); !bytes.Equal(caBefore, caAfter) {
		t.Fatal("ca server-cert replaced the fleet CA")
	}
	if st, err := os.Stat(filepath.Join(dir, "data", "ca", "server.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server.key: %v %v; want mode 0600", err, st)
	}

	// The receiver's side: the new pair. The host's side: the CA from the
	// bundle issued before, dialing the new name.
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "data", "ca", "server.crt"), filepath.Join(dir, "data", "ca", "server.key"))
	if err != nil {
		t.Fatalf("the new certificate and key do not pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	hostCA, _ := os.ReadFile(filepath.Join(bundle, "ca.crt"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(hostCA)
	for _, name := range []string{"lab-pi.local", "127.0.0.1"} {
		c, err := tls.DialWithDialer(&net.Dialer{}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Fatalf("a host of the same CA dialing %s: %v", name, err)
		}
		c.Close()
	}
}

// TestCAServerCertNeedsACA: without `ca init` there is nothing to sign
// with, and the error says what to run.
func TestCAServerCertNeedsACA(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte("data_dir = \"data\"\n"), 0o644)
	code, _, errs := run(t, "ca", "server-cert", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "make the fleet CA first: cis490 ca init --config "+cfg) {
		t.Fatalf("ca server-cert without a CA: exit %d %q", code, errs)
	}
}

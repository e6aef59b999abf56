package doctor

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/pki"
)

func checkConfig(_ context.Context, e *env) Check {
	cfg, err := config.LoadLabHost(e.opt.Config)
	if err != nil {
		return Check{Status: Fail, Finding: oneLine(err), Fix: "fix lab-host.toml as the message says (deploy/lab-host.toml shows every key)"}
	}
	e.cfg = cfg
	return Check{Finding: fmt.Sprintf("%s parses: host %s, receiver %s, %d sources", e.opt.Config, cfg.Host, cfg.Receiver, len(cfg.Sources))}
}

func checkTLSFiles(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	for _, p := range []string{e.cfg.TLS.Cert, e.cfg.TLS.Key, e.cfg.TLS.CA} {
		if _, err := os.ReadFile(p); err != nil {
			return Check{Status: Fail, Finding: oneLine(err), Fix: "install the host bundle from `cis490 ca issue --host " + e.cfg.Host + "` (or run cis490 enroll)"}
		}
	}
	pair, err := pki.LoadPair(e.cfg.TLS.Cert, e.cfg.TLS.Key)
	if err != nil {
		return Check{Status: Fail, Finding: "the key does not go with the certificate: " + oneLine(err), Fix: "install host.crt and host.key from the same bundle"}
	}
	e.pair, e.leaf = &pair, pair.Leaf
	if e.leaf == nil {
		if e.leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return Check{Status: Fail, Finding: oneLine(err), Fix: "reissue the host bundle"}
		}
	}
	ca, _ := os.ReadFile(e.cfg.TLS.CA)
	e.roots = x509.NewCertPool()
	if !e.roots.AppendCertsFromPEM(ca) {
		e.roots = nil
		return Check{Status: Fail, Finding: e.cfg.TLS.CA + " holds no PEM certificate", Fix: "install ca.crt from the host bundle"}
	}
	return Check{Finding: "certificate, key and CA present; the key matches the certificate"}
}

func checkChain(_ context.Context, e *env) Check {
	if e.leaf == nil || e.roots == nil {
		return skip("no certificate")
	}
	// Validity is tls-expiry's business: verify the chain as of a moment
	// the certificate is valid.
	at := e.now
	if at.After(e.leaf.NotAfter) {
		at = e.leaf.NotAfter.Add(-time.Second)
	}
	if at.Before(e.leaf.NotBefore) {
		at = e.leaf.NotBefore.Add(time.Second)
	}
	_, err := e.leaf.Verify(x509.VerifyOptions{Roots: e.roots, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return Check{Status: Fail, Finding: "the certificate is not a client certificate of this fleet's CA: " + oneLine(err),
			Fix: "re-enroll the host (cis490 enroll) or install its bundle from `cis490 ca issue --host`"}
	}
	if kind, _ := pki.Identify(e.leaf); kind != pki.KindHost {
		return Check{Status: Fail, Finding: "the certificate is not a host certificate (an admin's?)", Fix: "install this host's own bundle (cis490 ca issue --host)"}
	}
	if e.cfg != nil && e.leaf.Subject.CommonName != e.cfg.Host {
		return Check{Status: Fail, Finding: fmt.Sprintf("the certificate names %s, lab-host.toml says host %s", e.leaf.Subject.CommonName, e.cfg.Host),
			Fix: "set host in lab-host.toml to the certificate's name, or install this host's own bundle"}
	}
	return Check{Finding: "issued by the fleet CA for " + e.leaf.Subject.CommonName}
}

func checkExpiry(_ context.Context, e *env) Check {
	if e.leaf == nil {
		return skip("no certificate")
	}
	left := e.leaf.NotAfter.Sub(e.now)
	until := e.leaf.NotAfter.UTC().Format(time.RFC3339)
	switch {
	case left <= 0:
		return Check{Status: Fail, Finding: "the certificate expired at " + until,
			Fix: "renew it (cis490 cert-fetch); once expired it cannot renew itself: re-enroll with a join token (cis490 enroll)"}
	case e.now.Before(e.leaf.NotBefore):
		return Check{Status: Fail, Finding: "the certificate is not valid before " + e.leaf.NotBefore.UTC().Format(time.RFC3339), Fix: "check this host's clock (timedatectl)"}
	case left < 14*24*time.Hour:
		return Check{Status: Warn, Finding: fmt.Sprintf("the certificate expires in %s (%s)", human.Duration(left), until), Fix: "renew it now: cis490 cert-fetch (is cis490-cert-fetch.timer enabled?)"}
	}
	return Check{Finding: fmt.Sprintf("valid until %s (%s)", until, human.Duration(left))}
}

func checkToken(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	p := e.cfg.TLS.TokenFile
	info, err := os.Stat(p)
	if err != nil {
		return Check{Status: Fail, Finding: oneLine(err), Fix: "install the token from the host bundle as " + p + " (mode 0600, or 0640 in the setgid folder install-lab-host.sh makes)"}
	}
	switch perm := info.Mode().Perm(); {
	case perm&0o004 != 0:
		return Check{Status: Fail, Finding: fmt.Sprintf("%s is mode %04o: every user can read this host's token", p, perm),
			Fix: "chmod 600 " + p + " (and reissue the token: others may have read it)"}
	case perm&0o040 != 0 && !folderGroup(p, info):
		return Check{Status: Warn, Finding: fmt.Sprintf("%s is mode %04o: its group can read this host's token", p, perm),
			Fix: "chmod 600 " + p + ", or make its folder setgid to the shipper's group as install-lab-host.sh does"}
	}
	if b, err := os.ReadFile(p); err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return Check{Status: Fail, Finding: p + " is empty or unreadable", Fix: "install the token from the host bundle"}
	}
	return Check{Finding: fmt.Sprintf("%s present, mode %04o", p, info.Mode().Perm())}
}

// folderGroup: the file's group is that of a setgid folder, the
// installer's way of letting the unprivileged shipper alone read the
// host's secrets.
func folderGroup(p string, info os.FileInfo) bool {
	dir, err := os.Stat(filepath.Dir(p))
	if err != nil || dir.Mode()&os.ModeSetgid == 0 {
		return false
	}
	f, ok1 := info.Sys().(*syscall.Stat_t)
	d, ok2 := dir.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && f.Gid == d.Gid
}

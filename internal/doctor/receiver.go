package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

func receiverHost(e *env) (host, port string, err error) {
	u, err := url.Parse(e.cfg.Receiver)
	if err != nil {
		return "", "", err
	}
	port = u.Port()
	if port == "" {
		port = "443"
	}
	return u.Hostname(), port, nil
}

func checkDNS(ctx context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	host, port, err := receiverHost(e)
	if err != nil {
		return Check{Status: Fail, Finding: oneLine(err), Fix: "set receiver in lab-host.toml to https://host:port"}
	}
	e.addr = net.JoinHostPort(host, port)
	if net.ParseIP(host) != nil {
		return Check{Finding: host + " is an address: nothing to resolve"}
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return Check{Status: Fail, Finding: "cannot resolve " + host + ": " + oneLine(err), Fix: "check DNS on this host (resolvectl status) or the receiver's name in lab-host.toml"}
	}
	return Check{Finding: fmt.Sprintf("%s is %s", host, strings.Join(addrs, ", "))}
}

func checkTCP(ctx context.Context, e *env) Check {
	if e.addr == "" {
		return skip("no receiver address")
	}
	start := time.Now()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return Check{Status: Fail, Finding: "cannot connect to " + e.addr + ": " + oneLine(err),
			Fix: "is the receiver running (systemctl status cis490-receiver on it), and is the port open between here and there?"}
	}
	c.Close()
	e.reached = true
	return Check{Finding: fmt.Sprintf("%s accepts connections (%s)", e.addr, ms(time.Since(start)))}
}

func checkTLS(ctx context.Context, e *env) Check {
	if !e.reached || e.pair == nil || e.roots == nil {
		return skip("no connection or no certificate")
	}
	host, _, _ := receiverHost(e)
	d := &tls.Dialer{Config: &tls.Config{RootCAs: e.roots, ServerName: host, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return e.pair, nil }}}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", e.addr)
	var wrongName x509.HostnameError
	if errors.As(err, &wrongName) && wrongName.Certificate != nil {
		// The usual newcomer's slip: server_names missed the name hosts
		// dial. Naming what the certificate does cover shows which side
		// to change.
		return Check{Status: Fail,
			Finding: fmt.Sprintf("the receiver's certificate covers %s, not %s", strings.Join(pki.NamesOf(wrongName.Certificate), ", "), host),
			Fix:     "on the receiver: cis490 ca server-cert --server-name " + host + " (and add it to server_names), or set receiver in lab-host.toml to a name it covers"}
	}
	if err != nil {
		return Check{Status: Fail, Finding: "TLS with the receiver failed: " + oneLine(err),
			Fix: "the receiver's certificate must be for " + host + " and from this fleet's CA: check ca.crt and the receiver URL"}
	}
	c.Close()
	return Check{Finding: fmt.Sprintf("TLS handshake with the receiver's certificate for %s (%s)", host, ms(time.Since(start)))}
}

func checkAuth(ctx context.Context, e *env) Check {
	if !e.reached || e.pair == nil {
		return skip("no connection or no certificate")
	}
	topt := transport.FromConfig(e.cfg)
	topt.Timeout = 3 * time.Second
	switch {
	case e.commit == "":
		topt.Unstamped = true
	default:
		topt.Commit = e.commit
	}
	c, err := transport.New(topt)
	if err != nil {
		return Check{Status: Fail, Finding: oneLine(err), Fix: "fix the credential files named in lab-host.toml"}
	}
	e.client, e.instance = c, c.Instance()
	// A heartbeat: authenticated, never gated, harmless (the host is up),
	// and a refusal comes with the receiver's sentence.
	e.sent = time.Now()
	resp, err := c.HeartbeatResponse(ctx, wire.StateUp)
	e.rtt = time.Since(e.sent)
	if err != nil {
		return Check{Status: Fail, Finding: "no answer from the receiver: " + oneLine(err), Fix: "see receiver-tcp and receiver-tls above"}
	}
	e.resp = resp
	switch {
	case resp.Status == http.StatusOK:
		return Check{Finding: fmt.Sprintf("the receiver accepts this host's credentials (a heartbeat in %s)", ms(e.rtt))}
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		var te *transport.Error
		msg := fmt.Sprintf("answered %d", resp.Status)
		if errors.As(resp.Err(), &te) && te.Message != "" {
			msg = te.Message
		}
		return Check{Status: Fail, Finding: "the receiver refuses this host's credentials: " + msg,
			Fix: "reissue the bundle (cis490 ca issue --host " + e.cfg.Host + ") or re-enroll (cis490 enroll)"}
	}
	return Check{Status: Warn, Finding: fmt.Sprintf("the receiver answered %d", resp.Status), Fix: "read the receiver's journal"}
}

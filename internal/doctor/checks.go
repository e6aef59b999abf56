package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/buildinfo"
	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/shipper"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// Options configure a doctor run.
type Options struct {
	Config string // lab-host.toml
	// Commit overrides this build's stamp (tests; "-" for none).
	Commit string
	Now    func() time.Time
	// SystemdDir is where systemd says it runs ("" = /run/systemd/system);
	// Systemctl runs systemctl (nil = the real one).
	SystemdDir string
	Systemctl  func(ctx context.Context, args ...string) (string, error)
	// Total bounds the whole run (default 9 s).
	Total time.Duration
	// UpdateRoot is where autoupdate keeps its last outcome
	// (default /var/lib/cis490/bin).
	UpdateRoot string
}

// hostUnits are the lab host's units the doctor looks at where systemd
// runs: the shipper and the timers that heal the host.
func hostUnits() []string {
	return []string{"cis490-shipper.service", "cis490-doctor-check.timer", "cis490-autoupdate.timer", "cis490-cert-fetch.timer"}
}

// env is what the checks learn and pass on.
type env struct {
	opt      Options
	now      time.Time
	cfg      *config.LabHost
	pair     *tls.Certificate
	leaf     *x509.Certificate
	roots    *x509.CertPool
	addr     string // receiver host:port
	reached  bool   // TCP worked
	client   *transport.Client
	resp     *transport.Response
	sent     time.Time // when the authenticated request went out
	rtt      time.Duration
	instance string
	commit   string

	mu    sync.Mutex // facts: a check abandoned on its deadline may still write
	facts Facts
}

func (e *env) fact(f func(*Facts)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(&e.facts)
}

// Run runs every check.
func Run(ctx context.Context, opt Options) *Report {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Total == 0 {
		opt.Total = 9 * time.Second
	}
	bi := buildinfo.Read()
	e := &env{opt: opt, now: opt.Now(), commit: bi.Commit}
	switch opt.Commit {
	case "":
	case "-":
		e.commit = ""
	default:
		e.commit = opt.Commit
	}
	steps := []step{
		{"config", time.Second, checkConfig, false},
		{"tls-files", time.Second, checkTLSFiles, false},
		{"tls-chain", time.Second, checkChain, false},
		{"tls-expiry", time.Second, checkExpiry, false},
		{"token-file", time.Second, checkToken, false},
		{"receiver-dns", 2 * time.Second, checkDNS, false},
		{"receiver-tcp", 2 * time.Second, checkTCP, false},
		{"receiver-tls", 3 * time.Second, checkTLS, false},
		{"receiver-auth", 3 * time.Second, checkAuth, false},
		{"clock", time.Second, checkClock, false},
		{"code", time.Second, checkCode, false},
		{"instance", time.Second, checkInstance, false},
		{"shipper", 2 * time.Second, checkShipper, true},
		{"sources", 2 * time.Second, checkSources, true},
		{"disk", time.Second, checkDisk, true},
		{"systemd", 3 * time.Second, checkUnits, true},
		{"autoupdate", time.Second, checkAutoupdate, true},
	}
	r := &Report{Schema: Schema, Version: bi.Version, Commit: e.commit, At: e.now.UTC()}
	r.Checks = runSteps(ctx, e, steps, opt.Total)
	if e.client != nil {
		e.client.Close()
	}
	if e.cfg != nil {
		r.Host = e.cfg.Host
	}
	r.Instance = e.instance
	var uts syscall.Utsname
	if syscall.Uname(&uts) == nil {
		e.fact(func(f *Facts) { f.Kernel = utsString(uts.Release[:]) })
	}
	e.mu.Lock()
	r.Facts = e.facts
	e.mu.Unlock()
	r.finish()
	return r
}

func skip(why string) Check { return Check{Status: Skip, Finding: why} }

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

func checkClock(_ context.Context, e *env) Check {
	if e.resp == nil {
		return skip("no answer from the receiver")
	}
	d, err := http.ParseTime(e.resp.Header.Get("Date"))
	if err != nil {
		return skip("the receiver sent no Date")
	}
	// Date has whole seconds: the receiver's clock read D <= T < D+1s
	// when our clock read about mid, so our offset lies in (x-1s, x]
	// with x = mid - D. Report the bound nearest zero: never more skew
	// than there surely is.
	x := e.sent.Add(e.rtt / 2).Sub(d)
	var skew, signed time.Duration
	switch {
	case x < 0:
		skew, signed = -x, x
	case x > time.Second:
		skew, signed = x-time.Second, x-time.Second
	}
	e.fact(func(f *Facts) { s := signed.Seconds(); f.ClockOffsetS = &s })
	switch {
	case skew > 5*time.Minute:
		return Check{Status: Fail, Finding: fmt.Sprintf("this host's clock is %s off the receiver's", skew.Round(time.Second)),
			Fix: "enable time sync (timedatectl set-ntp true); certificates and the fleet's alerts depend on it"}
	case skew > 30*time.Second:
		return Check{Status: Warn, Finding: fmt.Sprintf("this host's clock is %s off the receiver's", skew.Round(time.Second)), Fix: "enable time sync (timedatectl set-ntp true)"}
	}
	return Check{Finding: "within a second or so of the receiver's clock"}
}

// unanswered says why the receiver told this host nothing of itself (the
// skip of a check that reads what only an accepted host is told); "" when
// it did.
func unanswered(e *env) string {
	switch {
	case e.resp == nil:
		return "no answer from the receiver"
	case e.resp.Status == http.StatusUnauthorized || e.resp.Status == http.StatusForbidden:
		return "the receiver did not accept this host (see receiver-auth), so it said nothing of it"
	case e.resp.Status != http.StatusOK:
		return fmt.Sprintf("the receiver answered %d, so it said nothing of this host", e.resp.Status)
	}
	return ""
}

func checkCode(_ context.Context, e *env) Check {
	if why := unanswered(e); why != "" {
		return skip(why)
	}
	accepted := e.resp.Header.Get(wire.HeaderAccepted)
	switch e.resp.Header.Get(wire.HeaderGate) {
	case wire.GateStale:
		return Check{Status: Fail, Finding: fmt.Sprintf("this host runs %s, a release the receiver no longer accepts (it accepts %s): its logs wait here", human.Commit(e.commit), accepted),
			Fix: "run cis490 autoupdate, and check cis490-autoupdate.timer: it should have done this"}
	case wire.GateUnstamped:
		return Check{Status: Warn, Finding: "this build carries no code commit, so nobody can tell which code it runs", Fix: "install a release build (cis490 autoupdate)"}
	case wire.GateUnknown:
		return Check{Finding: "commit " + human.Commit(e.commit) + " is not a release the receiver knows (a dev build): accepted"}
	case wire.GatePass:
		return Check{Finding: "commit " + human.Commit(e.commit) + " is accepted by the receiver's version gate"}
	}
	return skip("the receiver does not say what its gate makes of this code (an older receiver)")
}

func checkInstance(_ context.Context, e *env) Check {
	if why := unanswered(e); why != "" {
		return skip(why)
	}
	others := func(header string) []string {
		var out []string
		for _, id := range strings.Split(e.resp.Header.Get(header), ",") {
			if id != "" && id != e.instance {
				out = append(out, id)
			}
		}
		return out
	}
	if now := others(wire.HeaderInstancesRecent); len(now) > 0 {
		return Check{Status: Fail, Finding: fmt.Sprintf("another installation (%s) is speaking as %s right now; this one is %s", strings.Join(now, ", "), e.cfg.Host, e.instance),
			Fix: "a cloned image: give each machine its own machine id (systemd-machine-id-setup) and its own host bundle"}
	}
	if day := others(wire.HeaderInstances); len(day) > 0 {
		return Check{Status: Warn, Finding: fmt.Sprintf("another installation (%s) spoke as %s in the last day, but not lately: a reinstall, or a clone that is off; this one is %s", strings.Join(day, ", "), e.cfg.Host, e.instance),
			Fix: "if this machine was not reinstalled, look for a clone of it"}
	}
	return Check{Finding: "instance " + e.instance + " is the only one speaking as " + e.cfg.Host}
}

// checkSources opens every configured log as this process can: the
// doctor-check unit runs as the shipper's user, so a log that user may not
// read (the shipper runs unprivileged) shows here with the fix.
func checkSources(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	if len(e.cfg.Sources) == 0 {
		return Check{Status: Warn, Finding: "no [[source]] configured: this host ships nothing", Fix: "add [[source]] path = \"/var/log/…\" to " + e.opt.Config}
	}
	var files, missing, denied []string
	for _, src := range e.cfg.Sources {
		paths := []string{src.Path}
		if src.IsGlob() {
			paths, _ = filepath.Glob(src.Path)
			if len(paths) == 0 {
				missing = append(missing, src.Path)
			}
		}
		for _, p := range paths {
			if len(files) >= 500 { // enough to tell; a huge glob is the shipper's to walk
				break
			}
			f, err := os.Open(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				missing = append(missing, p)
			case err != nil:
				denied = append(denied, p)
			default:
				f.Close()
				files = append(files, p)
			}
		}
	}
	found := fmt.Sprintf("%d of %d sources readable (%d files)", len(e.cfg.Sources)-len(missing)-len(denied), len(e.cfg.Sources), len(files))
	switch {
	case len(denied) > 0:
		who := "this user"
		if u, err := user.Current(); err == nil {
			who = u.Username
		}
		return Check{Status: Fail, Finding: fmt.Sprintf("%s cannot read %s", who, firstFew(denied)),
			Fix: "let the shipper's user read it: give it to group adm (chgrp adm FILE; chmod g+r FILE; and in logrotate's create line) or setfacl -m u:" + who + ":r FILE"}
	case len(missing) > 0:
		return Check{Status: Warn, Finding: found + "; nothing there yet: " + firstFew(missing), Fix: "check the [[source]] paths in " + e.opt.Config}
	}
	return Check{Finding: found}
}

func firstFew(s []string) string {
	if len(s) > 3 {
		return strings.Join(s[:3], ", ") + fmt.Sprintf(" and %d more", len(s)-3)
	}
	return strings.Join(s, ", ")
}

func checkShipper(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	st, err := shipper.Status(e.cfg.StateDir)
	if err != nil {
		return Check{Status: Warn, Finding: "cannot read the shipper's checkpoints: " + oneLine(err), Fix: "run the doctor as the shipper's user (cis490-shipper) or root"}
	}
	if len(st) == 0 {
		return Check{Status: Warn, Finding: "the shipper has shipped nothing yet (no checkpoint in " + e.cfg.StateDir + ")", Fix: "systemctl status cis490-shipper"}
	}
	var last time.Time
	var waiting []string
	var worst time.Duration
	for _, s := range st {
		last = maxTime(last, s.LastCheckpoint)
		if s.Backlog <= 0 {
			continue
		}
		// Every unshipped byte was written before the file's last write:
		// a backlog in a file written minutes ago is waiting that long at
		// least (a fresh line inside the batch window is not).
		age := max(0, e.now.Sub(s.Written))
		worst = max(worst, age)
		if len(waiting) < 3 {
			waiting = append(waiting, fmt.Sprintf("%s %s for %s or more", s.Stream, human.Bytes(s.Backlog), human.Duration(age)))
		}
	}
	f := fmt.Sprintf("%d streams, last checkpoint %s ago", len(st), human.Duration(max(0, e.now.Sub(last))))
	if len(waiting) == 0 {
		return Check{Finding: f + ", nothing waiting"}
	}
	f += "; not shipped yet: " + strings.Join(waiting, ", ")
	batch := e.cfg.Batch.MaxWait.Duration() + 2*time.Minute // the batch window and a fallback poll
	switch {
	case worst > time.Hour:
		return Check{Status: Fail, Finding: f, Fix: "the shipper is stuck: journalctl -u cis490-shipper, and see the receiver checks above"}
	case worst > batch:
		return Check{Status: Warn, Finding: f, Fix: "journalctl -u cis490-shipper"}
	}
	return Check{Finding: f}
}

func checkDisk(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	dir := e.cfg.StateDir
	for {
		if _, err := os.Stat(dir); err == nil || dir == "/" || dir == "." {
			break
		}
		dir = path.Dir(dir)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return Check{Status: Warn, Finding: oneLine(err)}
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	e.fact(func(f *Facts) { f.DiskFree = free })
	f := fmt.Sprintf("%s free where the shipper keeps its state (%s)", human.Bytes(free), dir)
	switch {
	case free < 10<<20:
		return Check{Status: Fail, Finding: f, Fix: "free space: the shipper cannot save its checkpoints"}
	case free < 100<<20:
		return Check{Status: Warn, Finding: f, Fix: "free space soon"}
	}
	return Check{Finding: f}
}

// checkAutoupdate reports autoupdate's last outcome: a rolled-back or
// refused update is news for the fleet's maintainer.
func checkAutoupdate(_ context.Context, e *env) Check {
	root := e.opt.UpdateRoot
	if root == "" {
		root = "/var/lib/cis490/bin"
	}
	if e.cfg != nil && e.cfg.ReleaseKey == "" {
		return skip("autoupdate is off: no release_key in " + e.opt.Config)
	}
	b, err := os.ReadFile(filepath.Join(root, "last-update.json"))
	if err != nil {
		return skip("autoupdate has not run here")
	}
	var out struct {
		At      time.Time `json:"at"`
		From    string    `json:"from"`
		To      string    `json:"to"`
		Result  string    `json:"result"`
		Detail  string    `json:"detail"`
		Failing []string  `json:"new_failures"`
	}
	if json.Unmarshal(b, &out) != nil {
		return Check{Status: Warn, Finding: "autoupdate's last outcome is unreadable"}
	}
	f := fmt.Sprintf("last run %s ago: %s", human.Duration(max(0, e.now.Sub(out.At))), out.Result)
	if out.Detail != "" {
		f += " (" + out.Detail + ")"
	}
	switch out.Result {
	case "rolled-back":
		return Check{Status: Warn, Finding: f + fmt.Sprintf("; %s failed %s here", out.To, strings.Join(out.Failing, ", ")),
			Fix: "the release breaks this host: look at its failing checks before rolling it out further"}
	case "refused":
		return Check{Status: Warn, Finding: f, Fix: "check release_key in lab-host.toml against the key the release was signed with"}
	}
	return Check{Finding: f}
}

// unitState is what systemd says of a unit.
type unitState struct{ load, active, file string }

func (u unitState) String() string {
	switch {
	case u.load == "not-found":
		return "not installed"
	case u.file != "" && u.file != "enabled" && u.file != "static":
		return u.active + ", " + u.file
	}
	return u.active
}

func checkUnits(ctx context.Context, e *env) Check {
	dir := e.opt.SystemdDir
	if dir == "" {
		dir = "/run/systemd/system"
	}
	if _, err := os.Stat(dir); err != nil {
		return skip("systemd is not running here")
	}
	ctl := e.opt.Systemctl
	if ctl == nil {
		ctl = func(ctx context.Context, args ...string) (string, error) {
			out, err := exec.CommandContext(ctx, "systemctl", args...).Output()
			return strings.TrimSpace(string(out)), err
		}
	}
	var bad, warn, missing []string
	for _, u := range hostUnits() {
		out, err := ctl(ctx, "show", "--property=LoadState,ActiveState,UnitFileState", u)
		if err != nil && out == "" {
			return Check{Status: Warn, Finding: "systemctl show failed: " + oneLine(err)}
		}
		var st unitState
		for _, line := range strings.Split(out, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "LoadState":
				st.load = v
			case "ActiveState":
				st.active = v
			case "UnitFileState":
				st.file = v
			}
		}
		switch {
		case st.load == "not-found":
			missing = append(missing, u)
		case strings.HasSuffix(u, ".service"):
			// A shipper restarting (activating) is alive; inactive or
			// failed is not.
			if st.active != "active" && st.active != "activating" && st.active != "reloading" {
				bad = append(bad, u+" "+st.String())
			} else if st.file != "enabled" {
				warn = append(warn, u+" not enabled (it will not start at boot)")
			}
		case st.active != "active" || st.file != "enabled":
			warn = append(warn, u+" "+st.String())
		}
	}
	f := strings.Join(append(append(bad, warn...), notInstalled(missing)...), "; ")
	switch {
	case len(bad) > 0:
		return Check{Status: Fail, Finding: f, Fix: "systemctl enable --now cis490-shipper, and journalctl -u cis490-shipper for why it stopped"}
	case len(warn) > 0:
		return Check{Status: Warn, Finding: f, Fix: "systemctl enable --now the units named"}
	case len(missing) > 0:
		return Check{Status: Warn, Finding: f, Fix: "install the units from deploy/systemd (this release's lab host units)"}
	}
	return Check{Finding: fmt.Sprintf("%s active and enabled", strings.Join(hostUnits(), ", "))}
}

func notInstalled(units []string) []string {
	if len(units) == 0 {
		return nil
	}
	return []string{strings.Join(units, ", ") + " not installed"}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// utsString reads a NUL-terminated utsname field (int8 or uint8 by
// platform).
func utsString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

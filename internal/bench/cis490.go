package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/proxyproto"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

// serverNames are the names on the benchmark servers' certificates.
var serverNames = []string{"localhost", "127.0.0.1"}

// Options say how to start a server under test.
type Options struct {
	Hosts int    // how many hosts to make credentials for (bench-0 …)
	Dir   string // parent of the temporary folder; "" for os.TempDir()
	// Command runs the receiver: its arguments come before
	// `receiver --config FILE`. Default: this executable.
	Command []string
	Env     []string // more environment for the server process
	// Keep leaves the temporary folder in place after Close.
	Keep bool
	// Admin also issues an admin certificate and token (Target.Admin), to
	// read streams back (cis490 only).
	Admin bool
	// NginxTemplate is the nginx config template; "" for the built-in copy
	// of shared/bench/nginx-peer.conf.template.
	NginxTemplate string
	// TOML is appended to the receiver's receiver.toml (cis490 only).
	TOML string
	// ProxyProtocolFrom is the receiver's proxy_protocol_from (cis490
	// only): the load balancers in front of it.
	ProxyProtocolFrom []string
	// DefaultLimits keeps the receiver's default [limits] and [quota]
	// (cis490 only): the load benchmark lifts the quotas and the per-host
	// rate, which would hide what an attack bench is there to measure.
	// TOML may then bring its own [limits] and [quota] tables.
	DefaultLimits bool
}

// StartCis490 makes a fleet CA, a server certificate, a client certificate
// and a token for each host bench-<i>, and a receiver.toml in a temporary
// folder, and starts the real receiver as a separate process on a free
// loopback port. Close stops it and removes the folder.
func StartCis490(ctx context.Context, o Options) (*Target, error) {
	t, err := PrepareCis490(o)
	if err != nil {
		return nil, err
	}
	if err := t.Launch(ctx, defaultWait); err != nil {
		if !o.Keep {
			os.RemoveAll(t.Dir)
		}
		return nil, err
	}
	return t, nil
}

// PrepareCis490 makes StartCis490's folder (CA, credentials, tokens,
// receiver.toml, the empty data folder <Dir>/data) without starting the
// receiver, so a store can be written there first; Launch starts it.
func PrepareCis490(o Options) (_ *Target, err error) {
	dir, err := os.MkdirTemp(o.Dir, "cis490-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !o.Keep {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	now := time.Now()
	ca, err := pki.Init(datadir.Dir(data).CA(), serverNames, now)
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "cis490", Kind: KindCis490, ServerName: "localhost", RootCAs: x509.NewCertPool(), CAPEM: ca.CertPEM(), Dir: dir,
		Data: data, Conf: filepath.Join(dir, "receiver.toml"), Log: filepath.Join(dir, "receiver.log"), opt: o}
	t.RootCAs.AddCert(ca.Cert)
	if t.Hosts, err = makeHosts(ca, o.Hosts, now, func(name string) (string, error) {
		return token.Files(datadir.Dir(data).Tokens()).Add(token.KindHost, name, now)
	}); err != nil {
		return nil, err
	}
	if o.Admin {
		if t.Admin, err = makeAdmin(ca, data, now); err != nil {
			return nil, err
		}
	}
	if t.Addr, err = FreeAddr(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(t.Conf, []byte(receiverTOML(t.Addr, o)+o.TOML), 0o644); err != nil {
		return nil, err
	}
	return t, nil
}

// Launch starts the receiver of a prepared folder (PrepareCis490) and
// returns once /healthz answers 200, polled as w says. Close stops it, and
// removes the folder unless Options.Keep.
func (t *Target) Launch(ctx context.Context, w ReadyWait) error {
	argv := t.opt.Command
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the cis490 executable: %w", err)
		}
		argv = []string{exe}
	}
	argv = append(argv[:len(argv):len(argv)], "receiver", "--config", t.Conf)
	return t.start(ctx, argv, t.opt.Env, t.opt.Keep, func(c *http.Client) error {
		return probe(c, "https://"+t.Addr+"/healthz", "", http.StatusOK)
	}, nil, w)
}

// receiverTOML is the receiver's config: defaults and a short shutdown,
// o's load balancers, and unless o.DefaultLimits no quota (a benchmark
// sends far more than a host's day) and no per-host rate.
func receiverTOML(addr string, o Options) string {
	s := fmt.Sprintf(`# made by cis490 bench
listen = %q
data_dir = "data"
server_names = ["localhost", "127.0.0.1"]
shutdown_timeout = "5s"
`, addr)
	if len(o.ProxyProtocolFrom) > 0 {
		quoted := make([]string, len(o.ProxyProtocolFrom))
		for i, a := range o.ProxyProtocolFrom {
			quoted[i] = strconv.Quote(a)
		}
		s += "proxy_protocol_from = [" + strings.Join(quoted, ", ") + "]\n"
	}
	if o.DefaultLimits {
		return s
	}
	return s + `
[quota]
host_bytes_per_day = 0
host_bytes_total = 0

# A bench host sends far faster than a lab host: no per-host rate limit.
[limits]
host_rate = 0
`
}

// makeHosts issues a client certificate for each of bench-0 … bench-<n-1>
// and asks tok for its token.
func makeHosts(ca *pki.CA, n int, now time.Time, tok func(name string) (string, error)) ([]Host, error) {
	hosts := make([]Host, n)
	for i := range hosts {
		name := fmt.Sprintf("bench-%d", i)
		certPEM, keyPEM, err := ca.IssueHost(name, 48*time.Hour, now)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		tk, err := tok(name)
		if err != nil {
			return nil, err
		}
		hosts[i] = Host{Name: name, Cert: cert, Token: tk, CertPEM: certPEM, KeyPEM: keyPEM}
	}
	return hosts, nil
}

// makeAdmin issues the admin bench-admin as ca issue does: a certificate
// in the CA's ledger and a token.
func makeAdmin(ca *pki.CA, data string, now time.Time) (*Host, error) {
	const name = "bench-admin"
	certPEM, keyPEM, err := ca.IssueAdmin(name, 48*time.Hour, now)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	// A fresh data folder no receiver runs on yet: the lock is free.
	g, err := trust.Local(data).Issue(context.Background(), certPEM, now)
	if err != nil {
		return nil, err
	}
	return &Host{Name: name, Cert: cert, Token: g.Token, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ReadyWait says how a server's readiness is polled: every Every, for at
// most Within.
type ReadyWait struct {
	Every, Within time.Duration
}

// defaultWait suits a server that starts in well under a second.
var defaultWait = ReadyWait{Every: 50 * time.Millisecond, Within: 15 * time.Second}

// start runs argv with its output in t.Log, waits until ready succeeds (it is
// retried as w says) and sets t.PID, t.Started, t.Ready and t.stop. sig is
// the signal that stops the server gracefully (SIGTERM if nil).
func (t *Target) start(ctx context.Context, argv, env []string, keep bool, ready func(*http.Client) error, sig os.Signal, w ReadyWait) error {
	logf, err := os.OpenFile(t.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive bench
	t.Started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", t.Name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	if sig == nil {
		sig = syscall.SIGTERM
	}
	dir := t.Dir
	t.PID = cmd.Process.Pid
	t.stop = func() error {
		_ = cmd.Process.Signal(sig)
		var err error
		select {
		case err = <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
			err = fmt.Errorf("%s did not stop within 15s of %v; killed (%v)", t.Name, sig, err)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			err = nil // ended by our signal
		}
		if !keep {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		}
		return err
	}

	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: t.RootCAs, ServerName: t.ServerName, MinVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{t.Hosts[0].Cert}},
		DisableKeepAlives: true,
	}
	if t.proxied {
		tr.DialContext = proxyproto.DialAsBalancer
	}
	c := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	deadline := time.Now().Add(w.Within)
	for {
		err := ready(c)
		if err == nil {
			t.Ready = time.Now()
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr
			t.stop()
			return fmt.Errorf("%s exited before it was ready (%v); see its log: %s", t.Name, werr, tail(t.Log))
		case <-ctx.Done():
			t.stop()
			return ctx.Err()
		case <-time.After(w.Every):
		}
		if time.Now().After(deadline) {
			t.stop()
			return fmt.Errorf("%s not ready after %s: %v; see its log: %s", t.Name, w.Within, err, tail(t.Log))
		}
	}
}

// probe GETs url and wants status.
func probe(c *http.Client, url, bearer string, status int) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return nil
}

// tail returns the end of a log file, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return path + "\n" + string(b)
}

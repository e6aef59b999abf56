package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/buildinfo"
	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/transport"
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
		{"losses", time.Second, checkLosses, true},
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

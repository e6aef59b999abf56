// Package receivertest starts a real cis490 receiver on loopback for tests
// of the host-side packages: a fleet CA, real TLS, real storage in a
// temporary folder, and helpers that issue host credentials as files, the
// way `cis490 ca issue` does.
package receivertest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

// Receiver is a running receiver.
type Receiver struct {
	URL     string // https://127.0.0.1:port
	DataDir string
	CA      *pki.CA
	CAFile  string
	Config  *config.Receiver

	t      testing.TB
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// Start starts a receiver; mod may adjust its config. It stops at cleanup.
func Start(t testing.TB, mod func(*config.Receiver)) *Receiver {
	t.Helper()
	dir := t.TempDir()
	cfg := config.DefaultReceiver()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.ServerNames = []string{"127.0.0.1", "localhost"}
	cfg.Limits.MinFree = 0
	cfg.Shutdown = config.Duration(5 * time.Second)
	if mod != nil {
		mod(&cfg)
	}
	cfg.Resolve(dir)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Init(filepath.Dir(cfg.TLS.CA), cfg.ServerNames, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{DataDir: cfg.DataDir, CA: ca, CAFile: cfg.TLS.CA, Config: &cfg, t: t}
	r.run(nil)
	t.Cleanup(r.Stop)
	return r
}

func (r *Receiver) run(ln net.Listener) {
	r.t.Helper()
	var err error
	if ln == nil {
		addr := r.addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		for range 50 { // the port may still be held for a moment after a stop
			if ln, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.addr = ln.Addr().String()
	r.URL = "https://" + r.addr
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	ready := make(chan struct{})
	go func() { r.done <- receiverd.Run(ctx, r.Config, ln, nil, func(net.Addr) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-r.done:
		r.t.Fatalf("receiver did not start: %v", err)
	}
}

// Stop stops the receiver gracefully; a second Stop does nothing.
func (r *Receiver) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Errorf("receiver stopped with %v", err)
	}
	r.cancel = nil
}

// Restart stops the receiver and starts it again on the same address and
// data folder.
func (r *Receiver) Restart() {
	r.t.Helper()
	r.Stop()
	r.run(nil)
}

// Creds are the files of a host or admin bundle.
type Creds struct {
	Name                      string
	Cert, Key, CA, Token, Dir string
}

// IssueHost writes a host bundle (certificate, key, CA, token) to a new
// folder, valid for lifetime from issued.
func (r *Receiver) IssueHost(name string, issued time.Time, lifetime time.Duration) Creds {
	r.t.Helper()
	c, k, err := r.CA.IssueHost(name, lifetime, issued)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.write(name, token.KindHost, c, k)
}

// IssueAdmin writes an admin bundle.
func (r *Receiver) IssueAdmin(name string) Creds {
	r.t.Helper()
	c, k, err := r.CA.IssueAdmin(name, time.Hour, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	return r.write(name, token.KindAdmin, c, k)
}

func (r *Receiver) write(name, kind string, certPEM, keyPEM []byte) Creds {
	// As ca issue does, but a test may hold two certificates for a host
	// (an expired one and a fresh one), so the earlier one stays.
	g, err := trust.Local(r.DataDir).IssueAlongside(r.t.Context(), certPEM, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	dir := r.t.TempDir()
	tok := g.Token
	caPEM, err := os.ReadFile(r.CAFile)
	if err != nil {
		r.t.Fatal(err)
	}
	c := Creds{Name: name, Dir: dir, Cert: filepath.Join(dir, kind+".crt"), Key: filepath.Join(dir, kind+".key"),
		CA: filepath.Join(dir, "ca.crt"), Token: filepath.Join(dir, "token")}
	for path, data := range map[string][]byte{c.Cert: certPEM, c.Key: keyPEM, c.CA: caPEM, c.Token: []byte(tok + "\n")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			r.t.Fatal(err)
		}
	}
	return c
}

// Index returns every index line written so far.
func (r *Receiver) Index() []index.Line {
	r.t.Helper()
	var out []index.Line
	_, _, err := index.Dir{Path: datadir.Dir(r.DataDir).Index()}.Read(r.t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		out = append(out, *l)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

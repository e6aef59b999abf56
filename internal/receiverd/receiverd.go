// Package receiverd is the receiver daemon: it opens the backend ([storage]
// backend: the local store and index sharing one group sync, or
// postgres+s3 of package pgs3), runs the maintenance loops (retention,
// index pruning, the server certificate's renewal, the storage watch,
// collecting orphan objects), and wires the metrics, the fleet view and
// the dashboard into the HTTP server of package receiver, which sees
// storage only through interfaces.
package receiverd

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/dashboard"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receiver"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

// daemon is what Run assembles before it serves.
type daemon struct {
	cfg      *config.Receiver
	data     datadir.Dir
	log      *slog.Logger
	caCert   *x509.Certificate
	srvCert  *certReloader
	tokens   token.State
	trust    trust.State // the ledger, the revocations' writer, the lock
	revoked  pki.RevocationList
	back     backend
	state    State              // snapshots, releases, sessions, removed hosts
	enroller *receiver.Enroller // nil: no CA key here
	// published is the server once made: its gate learns of releases
	// published to it, and the fleet view names what that live gate accepts.
	published atomic.Pointer[receiver.Server]
}

// Run serves the receiver described by cfg until ctx ends. If ln is nil it
// listens on cfg.Listen. ready, if set, is called with the bound address once
// the receiver accepts connections.
func Run(ctx context.Context, cfg *config.Receiver, ln net.Listener, log *slog.Logger, ready func(net.Addr)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &daemon{cfg: cfg, data: datadir.Dir(cfg.DataDir), log: log}
	if err := d.loadTrust(); err != nil {
		return err
	}
	back, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	d.back = back
	defer d.back.close()
	if err := d.loadState(ctx); err != nil {
		return err
	}
	srv, err := d.newServer()
	if err != nil {
		return err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	return d.serve(ctx, ln, srv, ready)
}

// loadTrust loads what TLS needs before any storage is opened: the fleet
// CA and the server's certificate (local files on every receiver).
func (d *daemon) loadTrust() error {
	var err error
	if d.caCert, err = pki.LoadCert(d.cfg.TLS.CA); err != nil {
		return fmt.Errorf("load fleet CA (run `cis490 ca init --config ...` first): %w", err)
	}
	d.srvCert, err = newCertReloader(d.cfg.TLS.Cert, d.cfg.TLS.Key, d.caCert.Raw)
	return err
}

// loadState loads the tokens, the revocations and the ledger from the
// backend, prepares the small state and, with the CA's key here, the
// enroller.
func (d *daemon) loadState(ctx context.Context) error {
	var err error
	if d.tokens, d.trust, d.revoked, err = d.back.trust(ctx); err != nil {
		return err
	}
	d.state = d.back.state()
	// The snapshots' folder exists (durably) before the first one is
	// acknowledged, and a crash mid-write left no temp file in it.
	if health, ok := d.state.HostHealth.(hosthealth.Folder); ok {
		if err := health.Prepare(); err != nil {
			return fmt.Errorf("prepare the host-health folder: %w", err)
		}
	}
	// With the CA's key here, hosts can enroll with a join token.
	cfg := d.cfg
	if ca, err := pki.Load(filepath.Dir(cfg.TLS.CA)); err == nil {
		d.enroller = &receiver.Enroller{CA: ca, DataDir: cfg.DataDir, Lifetime: cfg.Certs.HostLifetime.Duration(), Grace: cfg.Certs.RenewGrace.Duration(),
			ReleaseKey: cfg.ReleaseKey,
			Rejoined:   func(host string) error { return d.state.Removals.Clear(host) }}
		d.enroller.Trust = trust.New(d.trust, d.tokens)
	} else {
		d.log.Info("no CA key beside the CA certificate: hosts cannot enroll here", "err", err)
	}
	return nil
}

// newServer makes the HTTP server over the storage's interfaces.
func (d *daemon) newServer() (*receiver.Server, error) {
	cfg := d.cfg
	// Only releases release_key verifies are stored, served and gated on.
	releases := release.Shelf{Store: d.state.Releases, Key: cfg.ReleaseKey}
	gateLog := d.log.With("component", "gate")
	srv, err := receiver.New(receiver.Options{
		Store: d.back.streams(), Index: d.back.indexWriter(), LineRoom: d.back.lineRoom(),
		Verifier: pki.NewVerifier(d.caCert).WithRevocations(d.revoked), Tokens: d.tokens,
		Gate:    gate.Load(cfg.Gate, releases, gateLog),
		MaxBody: int64(cfg.Limits.MaxBody), MaxInflight: int64(cfg.Limits.MaxInflight),
		MaxInflightPerHost: int64(cfg.Limits.MaxInflightPerHost), MinBodyRate: int64(cfg.Limits.MinBodyRate),
		HostRate: cfg.Limits.HostRate, HostBurst: cfg.Limits.HostBurst,
		ProxyFrom:  cfg.ProxyPrefixes(),
		Conns:      receiver.ConnLimits{Total: cfg.Limits.MaxConns, PerAddress: cfg.Limits.MaxConnsPerAddress, PerHost: cfg.Limits.MaxConnsPerHost},
		Log:        d.log.With("component", "http"),
		Ready:      d.back.ready,
		HostHealth: d.state.HostHealth,
		Enroll:     d.enroller,
		Releases:   &releases,
		Published: func() {
			if srv := d.published.Load(); srv != nil {
				srv.SetGate(gate.Load(cfg.Gate, releases, gateLog))
			}
		},
		Fleet:     func(ctx context.Context, now time.Time) (any, error) { return d.view(ctx, now) },
		Metrics:   newMetrics(d.view, d.back),
		Dashboard: d.dashboard,
	})
	if err != nil {
		return nil, err
	}
	d.published.Store(srv)
	return srv, nil
}

// view builds the fleet view per request for the API and the dashboard (an
// admin's answer is current); the metrics cache theirs.
func (d *daemon) view(ctx context.Context, now time.Time) (*fleethealth.View, error) {
	var accepted string
	if srv := d.published.Load(); srv != nil {
		accepted = srv.Gate().Summary()
	}
	return fleethealth.BuildView(ctx, fleethealth.Options{DataDir: d.cfg.DataDir, Cfg: d.cfg.FleetHealth, Accepted: accepted, Now: now, HostHealth: d.state.HostHealth, Removed: d.state.Removals, Store: d.state.Detector, Index: d.state.Index})
}

// dashboard builds the web view, given the server's check of an admin
// client certificate and its search.
func (d *daemon) dashboard(adminCert func(*http.Request) (string, bool), search receiver.SearchFunc) http.Handler {
	ui, err := dashboard.New(dashboard.Options{
		DataDir: d.cfg.DataDir, HostHealth: d.state.HostHealth, Detector: d.state.Detector, Streams: d.back.streams(), AdminCert: adminCert, Log: d.log.With("component", "dashboard"),
		Search:   search,
		Fleet:    d.view,
		Sessions: d.state.Sessions,
		AdminToken: func(sum [32]byte) (string, bool) {
			e, ok := d.tokens.LookupSum(sum)
			return e.Name, ok && e.Kind == token.KindAdmin
		},
		AdminCertified: func(name string) bool {
			return trust.New(d.trust, d.tokens).AdminCertified(name, d.revoked, time.Now())
		},
	})
	if err != nil { // the templates are compiled in: a test catches this
		d.log.Error("the dashboard could not start", "err", err)
		return nil
	}
	return ui
}

// serve runs the maintenance loops and the server until ctx ends or the
// storage fails; a storage failure is the error returned.
func (d *daemon) serve(ctx context.Context, ln net.Listener, srv *receiver.Server, ready func(net.Addr)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { d.back.run(sctx, stop) })
	if d.enroller != nil {
		wg.Go(func() { renewLoop(sctx, d.enroller.CA, d.cfg.TLS.Cert, d.cfg.TLS.Key, d.log) })
	}
	// Its last counts are written once Serve has answered every request.
	fctx, foldStop := context.WithCancel(context.WithoutCancel(ctx))
	defer foldStop()
	wg.Go(func() { srv.FoldRefusals(fctx) })
	d.log.Info("receiver listening", "addr", ln.Addr().String(), "data_dir", d.cfg.DataDir)
	if ready != nil {
		ready(ln.Addr())
	}
	err := receiver.Serve(sctx, ln, srv, receiver.TLSConfig(d.caCert, d.srvCert.get), d.cfg.Shutdown.Duration(), d.log)
	stop()
	foldStop()
	if gerr := d.back.ready(); gerr != nil && !d.cfg.Storage.Shared() {
		return gerr // a failed fsync: the restart recovers
	}
	d.log.Info("receiver stopped")
	return err
}

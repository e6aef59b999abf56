package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/dashboard"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/metrics"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/token"
)

// RecordIssued puts a certificate the CA just signed into its ledger (what
// `host remove` and `ca revoke --admin` revoke by serial, and what a
// dashboard login checks an admin holds) and returns it parsed.
func RecordIssued(dataDir string, certPEM []byte, now time.Time) (*x509.Certificate, error) {
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	kind, name := pki.Identify(cert)
	return cert, pki.Record(datadir.Dir(dataDir).Issued(), pki.Issued{Serial: pki.Serial(cert), Kind: kind.String(), Name: name,
		NotAfter: cert.NotAfter, At: now.UTC()})
}

// Run serves the receiver described by cfg until ctx ends. If ln is nil it
// listens on cfg.Listen. ready, if set, is called with the bound address once
// the receiver accepts connections.
func Run(ctx context.Context, cfg *config.Receiver, ln net.Listener, log *slog.Logger, ready func(net.Addr)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data := datadir.Dir(cfg.DataDir)
	caCert, err := pki.LoadCert(cfg.TLS.CA)
	if err != nil {
		return fmt.Errorf("load fleet CA (run `cis490 ca init --config ...` first): %w", err)
	}
	srvCert, err := newCertReloader(cfg.TLS.Cert, cfg.TLS.Key, caCert.Raw)
	if err != nil {
		return err
	}
	tokens, err := token.Open(data.Tokens())
	if err != nil {
		return err
	}

	stg, err := OpenStorage(cfg.DataDir, store.Options{
		MaxAge:          cfg.Retention.MaxAge.Duration(),
		MaxBytes:        int64(cfg.Retention.MaxBytes),
		HostBytesPerDay: int64(cfg.Quota.HostBytesPerDay),
		HostBytesTotal:  int64(cfg.Quota.HostBytesTotal),
		MinFree:         int64(cfg.Limits.MinFree),
		FreeSpace:       store.DiskFree(cfg.DataDir),
	}, log)
	if err != nil {
		return err
	}
	defer stg.Close()
	st, ix, g := stg.Store, stg.Index, stg.Sync
	var wg sync.WaitGroup
	defer wg.Wait()

	// The snapshots' folder exists (durably) before the first one is
	// acknowledged, and a crash mid-write left no temp file in it.
	if err := hosthealth.Prepare(data.HostHealth()); err != nil {
		return fmt.Errorf("prepare the host-health folder: %w", err)
	}
	revoked, err := pki.OpenRevocations(data.Revoked())
	if err != nil {
		return err
	}
	// With the CA's key here, hosts can enroll with a join token.
	var enroller *Enroller
	if ca, err := pki.Load(filepath.Dir(cfg.TLS.CA)); err == nil {
		enroller = &Enroller{CA: ca, DataDir: cfg.DataDir, Lifetime: cfg.Certs.HostLifetime.Duration(), Grace: cfg.Certs.RenewGrace.Duration(),
			ReleaseKey: cfg.ReleaseKey,
			Rejoined:   func(host string) error { return fleethealth.ClearRemoved(cfg.DataDir, host) }}
	} else {
		log.Info("no CA key beside the CA certificate: hosts cannot enroll here", "err", err)
	}
	// The server, once made: its gate learns of releases published to it,
	// and the fleet view names what that live gate accepts.
	var published atomic.Pointer[Server]
	// The fleet view, built per request for the API and the dashboard (an
	// admin's answer is current); the metrics cache theirs.
	view := func(ctx context.Context, now time.Time) (*fleethealth.View, error) {
		var accepted string
		if srv := published.Load(); srv != nil {
			accepted = srv.gate().Summary()
		}
		return fleethealth.BuildView(ctx, cfg.DataDir, cfg.FleetHealth, accepted, now)
	}
	srv, err := New(Options{
		Store: st, Index: ix, Verifier: pki.NewVerifier(caCert).WithRevocations(revoked), Tokens: tokens,
		Gate:    gate.Load(cfg.Gate, data.Releases()),
		MaxBody: int64(cfg.Limits.MaxBody), MaxInflight: int64(cfg.Limits.MaxInflight),
		Log:           log.With("component", "http"),
		Ready:         g.Err,
		HostHealthDir: data.HostHealth(),
		Enroll:        enroller,
		ReleasesDir:   data.Releases(),
		Published: func() {
			if srv := published.Load(); srv != nil {
				srv.SetGate(gate.Load(cfg.Gate, data.Releases()))
			}
		},
		Fleet:   func(ctx context.Context, now time.Time) (any, error) { return view(ctx, now) },
		Metrics: newMetrics(view, g),
		Dashboard: func(adminCert func(*http.Request) (string, bool)) http.Handler {
			ui, err := dashboard.New(dashboard.Options{
				DataDir: cfg.DataDir, Streams: st, AdminCert: adminCert, Log: log.With("component", "dashboard"),
				Fleet:        view,
				SessionsFile: data.Sessions(),
				AdminToken: func(sum [32]byte) (string, bool) {
					e, ok := tokens.LookupSum(sum)
					return e.Name, ok && e.Kind == token.KindAdmin
				},
				AdminCertified: func(name string) bool { return AdminCertified(cfg.DataDir, name, revoked, time.Now()) },
			})
			if err != nil { // the templates are compiled in: a test catches this
				log.Error("the dashboard could not start", "err", err)
				return nil
			}
			return ui
		},
	})
	if err != nil {
		return err
	}
	published.Store(srv)
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { maintain(sctx, st, ix, cfg, log) })
	if enroller != nil {
		wg.Go(func() {
			// The receiver's own certificate renews itself, checked daily.
			t := time.NewTicker(24 * time.Hour)
			defer t.Stop()
			for {
				if ok, err := renewServerCert(enroller.CA, cfg.TLS.Cert, cfg.TLS.Key, time.Now()); err != nil {
					log.Error("renew the receiver's certificate", "err", err)
				} else if ok {
					log.Info("the receiver's certificate was renewed", "cert", cfg.TLS.Cert)
				}
				select {
				case <-sctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Go(func() {
		// A failed fsync means acknowledged-looking pages may be gone: stop,
		// so a restart recovers from what is really on disk.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if g.Err() != nil {
					log.Error("storage failed; stopping so a restart recovers", "err", g.Err())
					stop()
					return
				}
			}
		}
	})
	log.Info("receiver listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir)
	if ready != nil {
		ready(ln.Addr())
	}
	err = Serve(sctx, ln, srv, TLSConfig(srvCert.get), cfg.Shutdown.Duration(), log)
	stop()
	if gerr := g.Err(); gerr != nil {
		return gerr
	}
	log.Info("receiver stopped")
	return err
}

// maintain runs retention and index pruning in the background.
func maintain(ctx context.Context, st *store.Store, ix *index.Writer, cfg *config.Receiver, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		// Bounds what recovery replays from the journal after a crash.
		if _, err := ix.Sync(); err != nil {
			log.Error("sync index", "err", err)
		}
		if _, err := st.Retain(); err != nil {
			log.Error("retention", "err", err)
		}
		if _, err := ix.Prune(time.Now(), cfg.Index.MaxAge.Duration(), int64(cfg.Index.MaxBytes)); err != nil {
			log.Error("prune index", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// certReloader serves the receiver's certificate and picks up a renewed one
// from disk without a restart.
type certReloader struct {
	certPath, keyPath string
	caDER             []byte // sent after the server certificate: a host enrolling pins it by fingerprint
	mu                sync.Mutex
	cert              *tls.Certificate
	mod               time.Time
	checked           time.Time
}

func newCertReloader(certPath, keyPath string, caDER []byte) (*certReloader, error) {
	r := &certReloader{certPath: certPath, keyPath: keyPath, caDER: caDER}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	st, err := os.Stat(r.certPath)
	if err != nil {
		return fmt.Errorf("receiver certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return fmt.Errorf("load receiver certificate %s: %w", r.certPath, err)
	}
	if len(c.Certificate) == 1 && r.caDER != nil {
		c.Certificate = append(c.Certificate, r.caDER)
	}
	r.cert, r.mod = &c, st.ModTime()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) > 10*time.Second {
		r.checked = time.Now()
		if st, err := os.Stat(r.certPath); err == nil && !st.ModTime().Equal(r.mod) {
			if err := r.load(); err != nil && !errors.Is(err, os.ErrNotExist) {
				// Keep serving the old pair; a half-written renewal must not
				// take the receiver down.
				r.mod = st.ModTime()
			}
		}
	}
	return r.cert, nil
}

// newMetrics wires the metrics to the group commit and the detector's view.
func newMetrics(view func(context.Context, time.Time) (*fleethealth.View, error), g *groupsync.Group) *metrics.Metrics {
	m := metrics.New(metrics.Options{
		Pending: g.Pending,
		Fleet: func(ctx context.Context, now time.Time) (metrics.Fleet, error) {
			v, err := view(ctx, now)
			if err != nil {
				return metrics.Fleet{}, err
			}
			f := metrics.Fleet{Hosts: map[string]int{}, Active: map[string]int{}, DetectorRan: v.DetectorRan}
			// Active: confirmed and alerted (one waiting for its second run
			// is not yet an alert). A held one that fired before (explained
			// now by a fleet symptom, quiet hours, or its host being off)
			// is still an alert nobody resolved: counted, as Prometheus
			// counts an inhibited alert as firing.
			for _, s := range v.Fleet {
				if s.Firing {
					f.Active[s.Symptom]++
				}
			}
			for _, h := range v.Hosts {
				f.Hosts[h.State]++
				for _, s := range h.Symptoms {
					if s.Firing {
						f.Active[s.Symptom]++
					}
				}
			}
			return f, nil
		},
	})
	g.Observe(m.Round)
	return m
}

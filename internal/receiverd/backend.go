package receiverd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receiver"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

// backend is where the receiver keeps the streams and the index: the local
// data folder or postgres+s3 ([storage] backend).
type backend interface {
	streams() store.Streams
	indexWriter() receiver.IndexWriter
	// detector keeps the fleet-health detector's state, silences and
	// alerts, which the fleet view and the dashboard read.
	lineRoom() func() error // nil: lines always have room
	ready() error           // /healthz
	pending(now time.Time) time.Duration
	observe(func(groupsync.Round))
	// run keeps the backend up until ctx ends (retention, pruning, the
	// index's syncs, collecting orphans); stop ends the receiver when the
	// storage has failed for good.
	run(ctx context.Context, stop func())
	// state is where the small state is kept (State).
	state() State
	// trust is where the tokens, the CA's ledger, the revocation list and
	// the trust lock are kept (the CA's key stays a local file).
	trust(ctx context.Context) (token.State, trust.State, pki.RevocationList, error)
	close() error
}

// openBackend opens the backend cfg names.
func openBackend(ctx context.Context, cfg *config.Receiver, log *slog.Logger) (backend, error) {
	if !cfg.Storage.Shared() {
		stg, err := OpenStorage(cfg.DataDir, store.Options{
			MaxAge:          cfg.Retention.MaxAge.Duration(),
			MaxBytes:        int64(cfg.Retention.MaxBytes),
			HostBytesPerDay: int64(cfg.Quota.HostBytesPerDay),
			HostBytesTotal:  int64(cfg.Quota.HostBytesTotal),
			HostStreams:     cfg.Quota.HostStreams,
			MinFree:         int64(cfg.Limits.MinFree),
			FreeSpace:       store.DiskFree(cfg.DataDir),
		}, log)
		if err != nil {
			return nil, err
		}
		return &localBackend{Storage: stg, cfg: cfg, log: log}, nil
	}
	b, err := OpenShared(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &sharedBackend{b: b, cfg: cfg, log: log}, nil
}

// OpenShared opens the postgres+s3 backend cfg's [storage] names, reading
// the credentials from their files.
func OpenShared(ctx context.Context, cfg *config.Receiver, log *slog.Logger) (*pgs3.Backend, error) {
	st := cfg.Storage
	dsn, err := st.PostgresURL()
	if err != nil {
		return nil, err
	}
	id, secret, err := st.S3Keys()
	if err != nil {
		return nil, err
	}
	b, err := pgs3.Open(ctx, pgs3.Options{
		Postgres:        dsn,
		S3:              pgs3.S3{Endpoint: st.S3.Endpoint, Region: st.S3.Region, Bucket: st.S3.Bucket, Prefix: st.S3.Prefix, AccessKey: id, SecretKey: secret},
		HostBytesPerDay: int64(cfg.Quota.HostBytesPerDay),
		HostBytesTotal:  int64(cfg.Quota.HostBytesTotal),
		HostStreams:     cfg.Quota.HostStreams,
		BuildFilter:     search.FilterOf,
		Log:             log.With("component", "postgres+s3"),
	})
	if err != nil {
		return nil, fmt.Errorf("open the postgres+s3 backend: %w", err)
	}
	return b, nil
}

// localBackend is the data folder: the store and the journaled index.
type localBackend struct {
	*Storage
	cfg *config.Receiver
	log *slog.Logger
}

func (l *localBackend) streams() store.Streams              { return l.Store }
func (l *localBackend) indexWriter() receiver.IndexWriter   { return l.Index }
func (l *localBackend) lineRoom() func() error              { return l.Store.RoomForLines }
func (l *localBackend) ready() error                        { return l.Sync.Err() }
func (l *localBackend) pending(now time.Time) time.Duration { return l.Sync.Pending(now) }
func (l *localBackend) observe(f func(groupsync.Round))     { l.Sync.Observe(f) }
func (l *localBackend) close() error                        { return l.Close() }
func (l *localBackend) state() State                        { return LocalState(datadir.Dir(l.cfg.DataDir)) }

func (l *localBackend) trust(context.Context) (token.State, trust.State, pki.RevocationList, error) {
	d := datadir.Dir(l.cfg.DataDir)
	toks, err := token.Open(d.Tokens())
	if err != nil {
		return nil, nil, nil, err
	}
	rev, err := pki.OpenRevocations(d.Revoked())
	if err != nil {
		return nil, nil, nil, err
	}
	return toks, trust.Files(d), rev, nil
}

func (l *localBackend) run(ctx context.Context, stop func()) {
	done := make(chan struct{}, 3)
	go func() { maintain(ctx, l.Storage, l.cfg, l.log); done <- struct{}{} }()
	go func() { l.SyncIndex(ctx, time.Minute, l.log); done <- struct{}{} }()
	go func() { watchSync(ctx, l.Sync, stop, l.log); done <- struct{}{} }()
	for range 3 {
		<-done
	}
}

// sharedBackend is postgres+s3, shared with other receivers.
type sharedBackend struct {
	b   *pgs3.Backend
	cfg *config.Receiver
	log *slog.Logger
}

func (s *sharedBackend) streams() store.Streams            { return s.b.Streams() }
func (s *sharedBackend) indexWriter() receiver.IndexWriter { return s.b.Lines() }
func (s *sharedBackend) lineRoom() func() error            { return nil }
func (s *sharedBackend) ready() error                      { return s.b.Ready(context.Background()) }
func (s *sharedBackend) pending(now time.Time) time.Duration {
	return s.b.Pending(now)
}
func (s *sharedBackend) observe(f func(groupsync.Round)) { s.b.Observe(f) }
func (s *sharedBackend) close() error                    { return s.b.Close() }
func (s *sharedBackend) state() State                    { return SharedState(s.b) }

// trust is the trust state in the database, loaded (an error if it cannot
// be: a receiver without it would let revoked credentials in).
func (s *sharedBackend) trust(ctx context.Context) (token.State, trust.State, pki.RevocationList, error) {
	toks, err := s.b.Tokens(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	rev, err := s.b.Revocations(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load the revocation list from PostgreSQL: %w", err)
	}
	return toks, s.b.Trust(), rev, nil
}

// run maintains the backend every minute (retention, index pruning,
// collecting objects), when no other receiver is: the maintenance lease
// lets one at a time, and fences its writes.
func (s *sharedBackend) run(ctx context.Context, _ func()) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	r := pgs3.Retention{MaxAge: s.cfg.Retention.MaxAge.Duration(), MaxBytes: int64(s.cfg.Retention.MaxBytes), IndexMaxAge: s.cfg.Index.MaxAge.Duration()}
	for {
		m, err := s.b.Maintain(ctx, r, time.Now(), 5*time.Minute)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("maintain the postgres+s3 backend", "err", err)
		case m.Bytes > 0 || m.Lines > 0 || m.Collected > 0 || m.Merged > 0:
			s.log.Info("maintained", "streams", m.Streams, "bytes", m.Bytes, "index_lines", m.Lines, "objects_merged", m.Merged, "objects_deleted", m.Collected)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package receiverd

import (
	"context"
	"log/slog"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/pki"
)

// maintain runs retention and index pruning in the background.
func maintain(ctx context.Context, stg *Storage, cfg *config.Receiver, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := stg.Store.Retain(); err != nil {
			log.Error("retention", "err", err)
		}
		if _, err := stg.Index.Prune(time.Now(), cfg.Index.MaxAge.Duration(), int64(cfg.Index.MaxBytes)); err != nil {
			log.Error("prune index", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SyncIndex syncs the index every interval, and sooner whenever it asks
// (many lines unsynced), until ctx ends: that bounds what recovery reads
// and keeps from the journal after a crash.
func (s *Storage) SyncIndex(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.Index.SyncWanted():
		}
		if _, err := s.Index.Sync(); err != nil && log != nil {
			log.Error("sync index", "err", err)
		}
	}
}

// renewLoop renews the receiver's own certificate, checked daily.
func renewLoop(ctx context.Context, ca *pki.CA, certPath, keyPath string, log *slog.Logger) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		if ok, err := renewServerCert(ca, certPath, keyPath, time.Now()); err != nil {
			log.Error("renew the receiver's certificate", "err", err)
		} else if ok {
			log.Info("the receiver's certificate was renewed", "cert", certPath)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchSync calls stop once the group sync has failed: a failed fsync means
// acknowledged-looking pages may be gone, so the receiver stops and a
// restart recovers from what is really on disk.
func watchSync(ctx context.Context, g *groupsync.Group, stop func(), log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.Err(); err != nil {
				log.Error("storage failed; stopping so a restart recovers", "err", err)
				stop()
				return
			}
		}
	}
}

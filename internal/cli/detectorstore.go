package cli

import (
	"context"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/receiverd"
)

// detectorStorage is where the receiver's index is read and the
// detector's state, silences and alerts are kept: data_dir, or the
// postgres+s3 backend [storage] names, shared by every receiver.
type detectorStorage struct {
	Index index.Source
	Store fleethealth.Store
	// Alerts says where the alerts go, for the log.
	Alerts string
	Close  func()
}

// openDetectorStorage opens cfg's storage for the detector and the admin
// commands that read or change its state. The shared backend's
// committers start too, idle: these commands write no stream or line.
func openDetectorStorage(ctx context.Context, env *Env, cfg *config.Receiver) (*detectorStorage, error) {
	if !cfg.Storage.Shared() {
		return &detectorStorage{
			Index:  index.Dir{Path: datadir.Dir(cfg.DataDir).Index()},
			Store:  fleethealth.Files(cfg.DataDir, ""),
			Alerts: datadir.Dir(cfg.DataDir).Alerts(),
			Close:  func() {},
		}, nil
	}
	b, err := receiverd.OpenShared(ctx, cfg, env.Log)
	if err != nil {
		return nil, err
	}
	return &detectorStorage{
		Index:  b.Lines(),
		Store:  b.Detector(),
		Alerts: "PostgreSQL table detector_alerts",
		Close:  func() { b.Close() },
	}, nil
}

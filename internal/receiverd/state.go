package receiverd

import (
	"context"
	"log/slog"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/dashboard"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/release"
)

// State is the small state the receiver keeps beside the streams, where
// [storage] backend says: the hosts' doctor snapshots, the releases, the
// dashboard's sessions and the hosts taken out of the fleet. The admin
// commands that change or read it directly open it the same way.
type State struct {
	HostHealth hosthealth.Store
	Releases   release.Store
	Sessions   dashboard.Sessions
	Removals   fleethealth.Removals
	// Index is the index read back; Detector the detector's state,
	// silences and alerts, and Alerts says where those alerts are, for
	// a log line.
	Index    index.Source
	Detector fleethealth.Store
	Alerts   string
}

// LocalState is the state in data_dir's files.
func LocalState(data datadir.Dir) State {
	return State{
		HostHealth: hosthealth.Folder(data.HostHealth()),
		Releases:   release.Folder(data.Releases()),
		Sessions:   dashboard.SessionsFile(data.Sessions()),
		Removals:   fleethealth.RemovedFile(data),
		Index:      index.Dir{Path: data.Index()},
		Detector:   fleethealth.Files(string(data), ""),
		Alerts:     data.Alerts(),
	}
}

// SharedState is the state in the postgres+s3 backend.
func SharedState(b *pgs3.Backend) State {
	return State{HostHealth: b.HostHealth(), Releases: b.Releases(), Sessions: b.Sessions(), Removals: b.Removals(),
		Index: b.Lines(), Detector: b.Detector(), Alerts: "PostgreSQL table detector_alerts"}
}

// OpenState opens the state where cfg keeps it, for a command that runs
// beside the receiver; close releases what it opened.
func OpenState(ctx context.Context, cfg *config.Receiver, log *slog.Logger) (st State, close func() error, err error) {
	if !cfg.Storage.Shared() {
		return LocalState(datadir.Dir(cfg.DataDir)), func() error { return nil }, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := OpenShared(ctx, cfg, log)
	if err != nil {
		return State{}, nil, err
	}
	return SharedState(b), b.Close, nil
}

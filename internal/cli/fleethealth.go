package cli

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/store"
)

// fleetHealthGC is the detector process's GOGC.
const fleetHealthGC = 400

func runFleetHealth(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "fleet-health", "[--config receiver.toml] [--now RFC3339] [--dry-run] [--state DIR]",
		`Reads what the receiver's index gained since the last run, judges every host
and appends alerts to <data_dir>/alerts.jsonl (then syslog and the notifiers of
[fleet_health]). Exit 0 when it ran, whatever it found; 1 when it could not run.
--now replays as of an instant (index lines stamped later are not read yet;
replay an incident into its own folder with --state DIR, leaving the live
state alone; stale-code's detail names the releases accepted now, not then);
--dry-run prints what it would alert and writes nothing. With [storage]
backend = "postgres+s3" the index, the state, the silences and the alerts are
in the shared database, and one run at a time, on any receiver, holds the
detector's lease: a run that finds another's waits up to `+pgs3.DefaultWait.String()+`, then leaves
the work to it and exits 0; a replay's --state is still a local folder.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file (data_dir and [fleet_health])")
	nowFlag := fs.String("now", "", "judge as of this instant (RFC 3339, e.g. 2026-11-26T14:05:00Z)")
	dry := fs.Bool("dry-run", false, "print what it would alert; write nothing, tell no one")
	stateDir := fs.String("state", "", "keep the state and alerts.jsonl in this folder instead of data_dir (for replays)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	// A run lives tens of milliseconds and most of what it allocates
	// (the state decoded and encoded, the lines read) is garbage at once:
	// at the default GOGC the timer's run collects several times over a
	// heap of a few MB, a sixth of its CPU. 400 lets it collect once or
	// not at all; the heap stays bounded by the state and the lines in
	// flight (a few MB more at peak), not by history. GOGC set by hand
	// wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(fleetHealthGC)
	}
	var now time.Time
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *nowFlag)
		if err != nil {
			return usagef("--now %q is not an RFC 3339 instant; write one like 2026-11-26T14:05:00Z", *nowFlag)
		}
		now = t
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	// The snapshots, releases and removed hosts are where [storage] keeps
	// them.
	failed := func(err error) error {
		if !*dry {
			if perr := fleethealth.Failed(ctx, cfg.FleetHealth, nil); perr != nil {
				env.Log.Warn("could not tell the dead man's switch that this run failed", "err", perr)
			}
		}
		return err
	}
	state, closeState, err := receiverd.OpenState(ctx, cfg, env.Log)
	if err != nil {
		return failed(err)
	}
	defer closeState()
	opt := fleethealth.Options{
		DataDir: cfg.DataDir, Cfg: cfg.FleetHealth, Accepted: gate.Load(cfg.Gate, release.Shelf{Store: state.Releases, Key: cfg.ReleaseKey}, env.Log).Summary(),
		HostHealth: state.HostHealth, Removed: state.Removals,
		Disk: fleethealth.Disk{MinFree: cfg.Limits.MinFree, Retention: cfg.Retention, Free: store.DiskFree(cfg.DataDir)},
		Now:  now, Replay: !now.IsZero(), DryRun: *dry, StateDir: *stateDir, Log: env.Log,
	}
	alertsAt := opt.AlertsFile()
	if cfg.Storage.Shared() {
		// The index is the shared one; the state and alerts too, unless a
		// replay keeps its own in --state (a local folder: a replay's
		// state is nobody else's).
		opt.Index = state.Index
		if *stateDir == "" {
			opt.Store, alertsAt = state.Detector, state.Alerts
		}
	}
	res, err := fleethealth.Run(ctx, opt)
	if errors.Is(err, fleethealth.ErrBusy) {
		// Another receiver's run is doing this run's work: the timer's
		// unit stays green, as it does when it waits out a local run.
		env.Log.Info("fleet-health skipped: another run holds the detector", "err", err)
		return nil
	}
	if err != nil {
		return failed(err)
	}
	if *dry {
		return fleethealth.WriteTable(env.Stdout, res, cfg.FleetHealth.ConfirmRuns)
	}
	silenced := 0
	for _, a := range res.Alerts {
		env.Log.Warn(a.Text(), "host", a.Host, "symptom", a.Symptom, "bucket", a.Bucket)
		if a.Silenced != "" {
			silenced++
		}
	}
	env.Log.Info("fleet-health ran", "lines_read", res.Read.Lines, "malformed", res.Read.Malformed, "unattributed", res.Unattributed,
		"hosts", res.Hosts, "alerts", len(res.Alerts), "silenced", silenced, "notifications_waiting", res.Failed,
		"alerts_file", alertsAt)
	return nil
}

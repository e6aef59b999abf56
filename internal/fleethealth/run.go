package fleethealth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/index"
)

// Options configure one run of the detector.
type Options struct {
	DataDir string
	Cfg     config.FleetHealth
	// Accepted names the releases the version gate accepts, for
	// stale-code's detail.
	Accepted string
	// Disk is the receiver's storage settings and free space, for a full
	// disk's fix (a replay does not read today's free space).
	Disk Disk
	// Now is the instant the run judges as of. Replay makes it a replay
	// (--now): index lines stamped after it are not read yet.
	Now    time.Time
	Replay bool
	// DryRun judges without writing anything or telling anyone.
	DryRun bool
	// StateDir, when set, holds the state and alerts.jsonl instead of the
	// data folder: a replay (--now) into a fresh folder leaves the live
	// detector's state alone.
	StateDir string
	// HostHealth holds the hosts' doctor snapshots (nil: DataDir's
	// host-health folder).
	HostHealth hosthealth.Store
	// Removed are the hosts taken out of the fleet (nil: DataDir's
	// removed-hosts file).
	Removed Removals
	// Store keeps the detector's state, lock and alerts (nil: Files in
	// DataDir, or StateDir).
	Store Store
	// Index is the index read (nil: DataDir's day files).
	Index index.Source
	Log   *slog.Logger
	HTTP  *http.Client
}

// hostHealth is where the doctor snapshots are read from.
func (o *Options) hostHealth() hosthealth.Store {
	if o.HostHealth != nil {
		return o.HostHealth
	}
	return hosthealth.Folder(datadir.Dir(o.DataDir).HostHealth())
}

// removed is where the removed hosts are read from.
func (o *Options) removed() Removals {
	if o.Removed != nil {
		return o.Removed
	}
	return RemovedFile(datadir.Dir(o.DataDir))
}

// store is where the state, the lock and the alerts are kept.
func (o *Options) store() Store {
	if o.Store != nil {
		return o.Store
	}
	return Files(o.DataDir, o.StateDir)
}

// index is where the index lines are read from.
func (o *Options) index() index.Source {
	if o.Index != nil {
		return o.Index
	}
	return index.Dir{Path: datadir.Dir(o.DataDir).Index()}
}

// AlertsFile is where the run appends alert lines.
func (o *Options) AlertsFile() string {
	if o.StateDir != "" {
		return filepath.Join(o.StateDir, "alerts.jsonl")
	}
	return datadir.Dir(o.DataDir).Alerts()
}

// Result is what a run found and did.
type Result struct {
	Alerts   []Alert   // lines written to alerts.jsonl (or, dry, that would be); silenced ones marked
	Verdicts []Verdict // every live symptom
	Read     index.ReadStats
	Hosts    int
	Failed   int // notifications that failed and wait for the next run
	// Unattributed counts the lines read that count for no host
	// (unauthenticated without a fleet certificate, or an admin's).
	Unattributed int
}

// StateVersion is the state file's format (statecodec.go); files in
// format 1 are still read.
const StateVersion = 2

// State is what the detector keeps between runs, in
// <data_dir>/fleet-health/state.gob, written atomically. It is gob, not
// JSON: a thousand hosts' state decodes in a fifth of the time, and the
// timer's run must stay cheap; the per-minute and per-hour counts are
// packed by hand for the same reason (statecodec.go).
type State struct {
	Version    int               `json:"version"`
	LastRun    time.Time         `json:"last_run"`
	Checkpoint index.Checkpoint  `json:"checkpoint"`
	Hosts      map[string]*Host  `json:"hosts"`
	Tracks     map[string]*Track `json:"tracks"`
	Fleet      Fleet             `json:"fleet"`
	Outbox     []Outgoing        `json:"outbox,omitempty"`
}

// readState reads the saved state: a missing one is a fresh state, an
// undecodable one a *corruptState (the caller decides what to do with it).
func readState(s Store) (*State, error) {
	st := &State{Version: StateVersion}
	b, err := s.LoadState()
	if err != nil {
		return nil, fmt.Errorf("read the detector's state: %w", err) // permissions: not corruption
	}
	if b != nil {
		if derr := decodeState(b, st); derr != nil {
			return nil, &corruptState{derr}
		}
	}
	if st.Hosts == nil {
		st.Hosts = map[string]*Host{}
	}
	if st.Tracks == nil {
		st.Tracks = map[string]*Track{}
	}
	return st, nil
}

type corruptState struct{ err error }

func (c *corruptState) Error() string { return c.err.Error() }

// loadState reads the state; a missing one is a first run, and a corrupt
// one is moved aside and rebuilt (from the last 24 h of the index), never
// a crash loop.
func loadState(s Store, dry bool, log *slog.Logger) (*State, error) {
	st, err := readState(s)
	var corrupt *corruptState
	if !errors.As(err, &corrupt) {
		return st, err
	}
	aside := "(not moved: a dry run)"
	if !dry {
		var rerr error
		if aside, rerr = s.SetAside(); rerr != nil {
			return nil, fmt.Errorf("the detector's state is unreadable (%v) and cannot be moved aside: %w", err, rerr)
		}
	}
	log.Warn("the detector's state is unreadable; rebuilding it from the last day of the index (alerts already sent this hour may repeat)",
		"moved_to", aside, "err", err)
	return &State{Version: StateVersion, Hosts: map[string]*Host{}, Tracks: map[string]*Track{}}, nil
}

// observer hands tr the index lines as of now: a line stamped in the
// future (a receiver clock ahead) counts as now, so it cannot keep its host
// from ever being silent. A replay (until set) takes lines as stamped.
func observer(tr *Tracker, now, until time.Time) func(*index.Line) {
	if !until.IsZero() {
		return tr.Observe
	}
	return func(r *index.Line) {
		if r.TS.After(now) {
			r.TS = now
		}
		tr.Observe(r)
	}
}

// Run is one detector run: read what the index gained since the last run,
// judge every host, append the alerts (durably, first), save the state,
// then tell syslog and the notifiers. An error means it could not run;
// finding sick hosts is not an error.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	keep := o.store()
	if !o.DryRun {
		unlock, err := keep.Lock()
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	st, err := loadState(keep, o.DryRun, o.Log)
	if err != nil {
		return nil, err
	}
	if o.Replay && o.Now.Before(st.LastRun) {
		return nil, fmt.Errorf("--now %s is before this state's last run (%s): replay into a fresh state folder, e.g. --state /tmp/replay",
			o.Now.Format(time.RFC3339), st.LastRun.Format(time.RFC3339))
	}
	cfg := o.Cfg
	tr := newTracker(cfg)
	tr.Hosts, tr.Fleet = st.Hosts, &st.Fleet
	var until time.Time
	if o.Replay {
		until = o.Now
	}
	since := o.Now.Add(-cfg.Window.Duration())
	cp, stats, err := o.index().Read(ctx, st.Checkpoint, since, until, observer(tr, o.Now, until))
	if err != nil {
		return nil, err
	}
	if stats.Malformed > 0 {
		o.Log.Warn("skipped index lines that are not index lines", "count", stats.Malformed)
	}
	forgetRemoved(o.removed(), tr.Hosts, st.Tracks)
	readDoctors(o.hostHealth(), tr.Hosts, o.Now)
	disk := o.Disk
	if o.Replay {
		disk.Free = nil // the free space now says nothing of the past replayed
	}
	judge := &Judge{Cfg: cfg, Accepted: o.Accepted, Disk: disk}
	j := judge.Evaluate(tr, o.Now)
	alerts, verdicts := step(st.Tracks, j, o.Now, cfg.ConfirmRuns)
	tr.Fleet.SilentGroup = j.Group
	// An unreadable silences file must not mute the fleet: every alert
	// goes out, as if there were no silence.
	silences, err := ReadSilences(keep)
	if err != nil {
		o.Log.Warn("the silences cannot be read; no alert is silenced this run", "err", err)
	}
	silenced(alerts, silences)
	for _, g := range j.Gone {
		delete(tr.Hosts, g.Host) // reported once; seen again, it starts afresh
	}
	res := &Result{Alerts: alerts, Verdicts: verdicts, Read: stats, Hosts: len(tr.Hosts), Unattributed: tr.Unattributed}
	if o.DryRun {
		return res, nil
	}
	if err := keep.AppendAlerts(alerts); err != nil {
		return nil, err
	}
	// Syslog before the state moves on: a crash in between repeats the
	// messages rather than losing them.
	toSyslog(cfg.Syslog, alerts, o.Log)
	st.Checkpoint, st.LastRun, st.Hosts = cp, o.Now, tr.Hosts
	var dropped int
	st.Outbox, dropped = queue(st.Outbox, cfg.Notify, unsilenced(alerts))
	if dropped > 0 {
		o.Log.Warn("a notifier has failed for long; its oldest undelivered alerts are dropped (they are still in alerts.jsonl)", "dropped", dropped)
	}
	if err := saveState(keep, st); err != nil {
		return nil, err
	}
	waiting := len(st.Outbox)
	res.Failed = flush(ctx, o, st)
	if len(st.Outbox) != waiting || res.Failed > 0 {
		if err := saveState(keep, st); err != nil {
			return nil, err
		}
	}
	if cfg.DeadmanURL != "" {
		if err := ping(ctx, o.HTTP, cfg.DeadmanURL); err != nil {
			o.Log.Warn("could not ping the dead man's switch", "url", redact(cfg.DeadmanURL), "err", err)
		}
	}
	return res, nil
}

// Failed tells the dead man's switch that a run could not finish.
func Failed(ctx context.Context, cfg config.FleetHealth, hc *http.Client) error {
	if cfg.DeadmanURL == "" {
		return nil
	}
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	u, err := url.Parse(cfg.DeadmanURL)
	if err != nil {
		return err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/fail"
	return ping(ctx, hc, u.String())
}

// flush offers every waiting alert to its notifier, in order; a notifier
// that fails keeps the rest of its alerts for the next run.
func flush(ctx context.Context, o Options, st *State) (failed int) {
	broken := map[string]error{}
	kept := st.Outbox[:0]
	for _, out := range st.Outbox {
		if err, ok := broken[out.URL]; ok && err != nil {
			kept = append(kept, out)
			failed++
			continue
		}
		if err := deliver(ctx, o.HTTP, out); err != nil {
			broken[out.URL] = err
			kept = append(kept, out)
			failed++
			o.Log.Warn("a notifier failed; its alerts wait for the next run", "kind", out.Kind, "url", redact(out.URL), "status", errStatus(err))
			continue
		}
	}
	st.Outbox = kept
	return failed
}

func toSyslog(spec string, alerts []Alert, log *slog.Logger) {
	if len(alerts) == 0 || spec == "off" {
		return
	}
	w, err := openSyslog(spec)
	if err != nil {
		log.Warn("no syslog; the alerts are in alerts.jsonl", "syslog", spec, "err", err)
		return
	}
	defer w.Close()
	for _, a := range alerts {
		if err := w.Warning(a.Text()); err != nil {
			log.Warn("could not write to syslog; the alerts are in alerts.jsonl", "err", err)
			return
		}
	}
}

func saveState(s Store, st *State) error {
	b, err := encodeState(st)
	if err != nil {
		return fmt.Errorf("encode the detector's state: %w", err)
	}
	if err := s.SaveState(b); err != nil {
		return fmt.Errorf("save the detector's state: %w", err)
	}
	return nil
}

package fleethealth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// View is the fleet as GET /v1/fleet and `cis490 status` show it: the
// detector's saved state brought up to the moment by the index lines
// written since its last run (read, never written).
type View struct {
	AsOf        time.Time `json:"as_of"`
	DetectorRan time.Time `json:"detector_last_run,omitzero"`
	// Partial says why the view may lag, when it does.
	Partial string `json:"partial,omitempty"`
	// Fleet holds the fleet-level symptoms (receiver-fault, fleet-silent).
	Fleet []Symptom `json:"fleet"`
	Hosts []Row     `json:"hosts"`
	// Silences are the silences active now, oldest first: alerts they
	// match are written but not sent.
	Silences []Silence `json:"silences"`
}

// Row is one host, worst first.
type Row struct {
	Host  string `json:"host"`
	State string `json:"state"` // sick, silent, off, ok
	// Why is the state in one line, for people (HostState writes both).
	Why      string    `json:"why"`
	LastSeen time.Time `json:"last_seen"`
	LastOK   time.Time `json:"last_ok,omitzero"`
	Commit   string    `json:"commit,omitempty"`
	// Stale: the gate refused Commit on the host's latest log PUT.
	Stale       bool      `json:"stale,omitempty"`
	Off         string    `json:"off,omitempty"` // shutdown or sleep
	CertExpires time.Time `json:"cert_expires,omitzero"`
	// Requests24h counts by status class: 2xx, 3xx, 4xx, 5xx (a HEAD of
	// a stream answered 404 "no-stream", a shipper asking about a stream
	// it has not shipped yet, counts as 2xx: answered, not failed).
	Requests24h map[string]int `json:"requests_24h"`
	Symptoms    []Symptom      `json:"symptoms"`
	Doctor      *Doctor        `json:"doctor,omitempty"`
	// Hourly is the last 24 hours' requests hour by hour, by status
	// class as Requests24h counts them (the dashboard's chart; not in the
	// API's JSON).
	Hourly [24][6]int `json:"-"`
}

// Symptom is one symptom that holds now.
type Symptom struct {
	Symptom string `json:"symptom"`
	Detail  string `json:"detail"`
	// Firing: confirmed and alerted; otherwise it waits for confirmation.
	Firing bool      `json:"firing"`
	Since  time.Time `json:"since,omitzero"`
	// Held: it holds but is explained by a fleet-level symptom (or it is
	// a silence inside the host's quiet hours).
	Held bool `json:"held,omitempty"`
}

// Doctor is the latest doctor snapshot's summary, when the host sent one.
type Doctor struct {
	Received time.Time `json:"received"`
	Summary  string    `json:"summary,omitempty"`
	OK       *bool     `json:"ok,omitempty"`
}

// Mark is "!" after a symptom alerted, "?" after one awaiting
// confirmation: how tables mark them.
func (s Symptom) Mark() string {
	if s.Firing {
		return "!"
	}
	return "?"
}

// severity orders symptoms, worst first.
var severity = map[string]int{FatalOnly: 0, CertExpired: 0, StaleCode: 1, DuplicateIdentity: 2, Silent: 3, CertExpiring: 4, DoctorFailing: 5,
	OverQuota: 5, DoctorMissing: 6, LostLogs: 7, Unstamped: 8}

// viewCatchUp bounds what a fleet view reads of the index beyond the
// detector's checkpoint: a receiver (maybe a Raspberry Pi) must not read
// a day of index per request when the detector's timer has stopped.
const viewCatchUp = time.Hour

// BuildView reads the fleet as of o.Now from the detector's state, the
// index and the snapshots, as o's Run would (o.Accepted names the releases
// the version gate accepts, for stale-code's detail). It takes no lock and
// writes nothing, so it can serve while the detector runs.
func BuildView(ctx context.Context, o Options) (*View, error) {
	cfg, accepted := o.Cfg, o.Accepted
	now := o.Now.UTC()
	st, err := readState(o.store())
	var corrupt *corruptState
	if errors.As(err, &corrupt) { // the detector's next run moves it aside
		st, err = &State{Hosts: map[string]*Host{}, Tracks: map[string]*Track{}}, nil
	}
	if err != nil {
		return nil, err
	}
	tr := newTracker(cfg)
	tr.Hosts, tr.Fleet = st.Hosts, &st.Fleet
	v := &View{AsOf: now, DetectorRan: st.LastRun, Fleet: []Symptom{}}
	cp, since := st.Checkpoint, now.Add(-cfg.Window.Duration())
	if now.Sub(st.LastRun) > viewCatchUp {
		cp, since = index.Checkpoint{}, now.Add(-viewCatchUp)
		v.Partial = fmt.Sprintf("the fleet-health detector has not run for more than %s: this view adds only the last %s of the index to what it last saw", roundDur(viewCatchUp), roundDur(viewCatchUp))
	}
	if _, _, err := o.index().Read(ctx, cp, since, time.Time{}, observer(tr, now, time.Time{})); err != nil {
		return nil, err
	}
	forgetRemoved(o.removed(), tr.Hosts, map[string]*Track{})
	readDoctors(o.hostHealth(), tr.Hosts, now)
	judge := &Judge{Cfg: cfg, Accepted: accepted}
	j := judge.Evaluate(tr, now)
	goneHost := map[string]bool{}
	for _, g := range j.Gone {
		goneHost[g.Host] = true
	}
	bySym := map[string][]Symptom{}
	add := func(f Finding, held bool) {
		s := Symptom{Symptom: f.Symptom, Detail: f.Detail, Held: held}
		if t := st.Tracks[trackKey(f.Host, f.Symptom)]; t != nil {
			s.Firing, s.Since = t.Fired, t.Since
		}
		if f.Host == FleetHost {
			v.Fleet = append(v.Fleet, s)
			return
		}
		bySym[f.Host] = append(bySym[f.Host], s)
	}
	for _, f := range j.Found {
		add(f, false)
	}
	for _, f := range j.Held {
		add(f, true)
	}
	for name, h := range tr.Hosts {
		if goneHost[name] {
			continue
		}
		v.Hosts = append(v.Hosts, hostRow(name, h, bySym[name], now))
	}
	sort.Slice(v.Hosts, func(i, j int) bool {
		a, b := v.Hosts[i], v.Hosts[j]
		if ra, rb := rowRank(a), rowRank(b); ra != rb {
			return ra < rb
		}
		return a.Host < b.Host
	})
	if v.Hosts == nil {
		v.Hosts = []Row{}
	}
	// A view without its silences still shows the fleet; it says why
	// they are missing rather than failing the page.
	silences, err := ReadSilences(o.store())
	if err != nil {
		v.Partial = strings.TrimPrefix(v.Partial+"; "+err.Error(), "; ")
	}
	v.Silences = Active(silences, now)
	if v.Silences == nil {
		v.Silences = []Silence{}
	}
	return v, nil
}

// hostRow is one host's row: its figures, its symptoms most severe first,
// and the state and why HostState makes of them.
func hostRow(name string, h *Host, symptoms []Symptom, now time.Time) Row {
	day := h.Day(now)
	row := Row{Host: name, LastSeen: h.LastSeen, LastOK: h.LastOK, Commit: h.Commit,
		Stale: h.StaleCommit != "" && strings.EqualFold(h.StaleCommit, h.Commit),
		Off:   h.Off, Symptoms: symptoms, CertExpires: h.CertExpires,
		Requests24h: map[string]int{"2xx": day[2], "3xx": day[3], "4xx": day[4] + day[1], "5xx": day[5]},
		Hourly:      h.Last24(now)}
	if row.Symptoms == nil {
		row.Symptoms = []Symptom{}
	}
	sort.Slice(row.Symptoms, func(i, j int) bool {
		return severity[row.Symptoms[i].Symptom] < severity[row.Symptoms[j].Symptom]
	})
	if d := h.Doctor; d != nil {
		ok := d.OK
		row.Doctor = &Doctor{Received: d.At, Summary: d.Summary, OK: &ok}
	}
	row.State, row.Why = HostState(row, now)
	return row
}

// rowRank orders the rows: firing symptoms by severity, then held ones,
// then hosts that are off, then the well.
func rowRank(r Row) int {
	switch {
	case r.State == StateOK:
		return 30 // whatever it has that does not make it sick (unstamped)
	case len(r.Symptoms) > 0 && r.Symptoms[0].Firing:
		return severity[r.Symptoms[0].Symptom]
	case len(r.Symptoms) > 0:
		return 10 + severity[r.Symptoms[0].Symptom]
	case r.State == StateOff:
		return 20
	}
	return 30
}

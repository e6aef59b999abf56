package fleethealth

import (
	"net/http"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/wire"
)

// Host is what the detector remembers of one host between runs: enough to
// judge it, and bounded whatever the history (per-minute counts for the
// fatal window, per-hour counts for a day).
type Host struct {
	LastSeen time.Time `json:"last_seen"`
	LastOK   time.Time `json:"last_ok,omitzero"`
	// Off is "shutdown" or "sleep" when that was the host's last word;
	// OffAt is when it said so.
	Off   string    `json:"off,omitempty"`
	OffAt time.Time `json:"off_at,omitzero"`
	// Commit is the stamp of its latest request that carried one;
	// Unstamped whether its latest log PUT carried none.
	Commit    string    `json:"commit,omitempty"`
	Unstamped bool      `json:"unstamped,omitempty"`
	LastLogs  time.Time `json:"last_logs,omitzero"`
	// StaleCommit is the commit the gate refused on its latest log PUT
	// (empty once one is accepted).
	StaleCommit string   `json:"stale_commit,omitempty"`
	Minutes     []Minute `json:"minutes,omitempty"`
	Hours       []Hour   `json:"hours,omitempty"`
	// Instances are the installations (X-Cis490-Instance) seen for it and
	// when each was last seen; Switches when its requests went from one
	// to another (a clone pair switches all the time).
	Instances    map[string]time.Time `json:"instances,omitempty"`
	LastInstance string               `json:"last_instance,omitempty"`
	Switches     []time.Time          `json:"switches,omitempty"`
	// CertExpires is when the certificate of its latest request expires.
	CertExpires time.Time `json:"cert_expires,omitzero"`
	// For doctor-missing: BootAt is its first request after it said
	// shutdown (it booted then); LastReport when the receiver last stored
	// its doctor report (from the index, so replays are exact); Days how
	// many UTC days it was seen on since that report, LastDay the latest.
	BootAt     time.Time `json:"boot_at,omitzero"`
	LastReport time.Time `json:"last_report,omitzero"`
	Days       int       `json:"days,omitempty"`
	LastDay    int64     `json:"last_day,omitempty"`
	// Doctor is its latest doctor snapshot's verdict, when it sent one.
	Doctor *DoctorSeen `json:"doctor,omitempty"`
	// OverQuota is the quota refusal of its latest log PUT, nil once one
	// is accepted: a host over quota honours Retry-After and goes quiet
	// on logs, so nothing else about it looks wrong.
	OverQuota *QuotaSeen `json:"over_quota,omitempty"`
	// LastReq is its latest request and the receiver's answer, and
	// Beat/BeatAt its latest accepted heartbeat's state: when a host goes
	// quiet they are what it last said, often the cause (a 401 it gave up
	// on, a heartbeat that stopped before the logs did). Both are absent
	// from state written before they existed, and then filled by the next
	// request.
	LastReq *RequestSeen `json:"last_request,omitempty"`
	Beat    string       `json:"beat,omitempty"`
	BeatAt  time.Time    `json:"beat_at,omitzero"`
	// Losses are what its shipper lost for good in the last day, as it
	// told the receiver (lost-logs).
	Losses []LossSeen `json:"losses,omitempty"`
}

// RequestSeen is one request as a silence names it.
type RequestSeen struct {
	At       time.Time `json:"at"`
	Method   string    `json:"method,omitempty"`
	Endpoint string    `json:"endpoint,omitempty"`
	Status   int       `json:"status"`
	Reason   string    `json:"reason,omitempty"`
}

// QuotaSeen is what the detector keeps of a host's quota refusals since
// its last accepted log PUT.
type QuotaSeen struct {
	Since  time.Time `json:"since"` // its first refusal since it last shipped
	At     time.Time `json:"at"`    // its latest
	Reason string    `json:"reason"`
	// Kind, Used and Limit are the receiver's numbers from the latest
	// refusal (index keys quota, quota_used, quota_limit); zero from a
	// receiver that does not write them.
	Kind  string `json:"kind,omitempty"`
	Used  int64  `json:"used,omitempty"`
	Limit int64  `json:"limit,omitempty"`
	// Refused is the size of the latest refused batch of each stream: a
	// floor of what waits on the host (its shipper holds at least that).
	Refused map[string]int64 `json:"refused,omitempty"`
}

// maxRefusedStreams bounds QuotaSeen.Refused.
const maxRefusedStreams = 64

// quotaRefused notes a log PUT refused for a quota.
func (h *Host) quotaRefused(r *index.Line) {
	q := h.OverQuota
	if q == nil {
		q = &QuotaSeen{Since: r.TS, Refused: map[string]int64{}}
		h.OverQuota = q
	}
	q.At, q.Reason = r.TS, r.Reason
	q.Kind, q.Used, q.Limit = r.Quota, r.QuotaUsed, r.QuotaLimit
	if _, ok := q.Refused[r.Stream]; ok || len(q.Refused) < maxRefusedStreams {
		q.Refused[r.Stream] = r.Bytes
	}
}

// isQuotaRefusal says whether a log PUT's answer is a quota's: the host
// then waits for Retry-After (midnight UTC for bytes, an hour for streams).
func isQuotaRefusal(r *index.Line) bool {
	return r.Status == http.StatusTooManyRequests && (r.Reason == wire.ReasonQuota || r.Reason == wire.ReasonStreams)
}

// DoctorSeen is what the detector keeps of a host's latest snapshot.
type DoctorSeen struct {
	At      time.Time `json:"at"` // when the receiver stored it
	OK      bool      `json:"ok"`
	Failing []string  `json:"failing,omitempty"`
	Summary string    `json:"summary,omitempty"`
}

// maxInstances bounds the installations remembered per host.
const maxInstances = 16

// Minute counts one minute of a host's requests.
type Minute struct {
	At      int64          `json:"at"` // Unix minute
	OK      int            `json:"ok,omitempty"`
	C4      int            `json:"c4,omitempty"` // log PUTs answered 4xx
	C5      int            `json:"c5,omitempty"` // log PUTs answered 5xx
	Stale   int            `json:"stale,omitempty"`
	Any5    int            `json:"any5,omitempty"` // 5xx on any endpoint
	Reasons map[string]int `json:"reasons,omitempty"`
}

// Hour counts one hour of a host's requests by status class.
type Hour struct {
	At int64  `json:"at"` // Unix hour
	N  [6]int `json:"n"`  // by status/100; N[0] unused
}

// Tracker folds index lines into per-host state.
type Tracker struct {
	Hosts map[string]*Host
	Fleet *Fleet
	// Unattributed counts requests that named no host the detector may
	// hold responsible (unauthenticated, foreign certificates, admins).
	Unattributed int

	cfg   config.FleetHealth
	names map[subjectKey]string
}

// Fleet is what the detector remembers of the index as a whole.
type Fleet struct {
	// LastAny is the latest request of any kind: while the receiver is
	// down it stands still.
	LastAny time.Time `json:"last_any"`
	// Outages are the stretches in which the index heard from nobody
	// though a fleet had been active: time in them is not a host's
	// silence (they were not heard because the receiver was not there).
	Outages []Outage `json:"outages,omitempty"`
	// SilentGroup is the hosts fleet-silent holds for, measured when it
	// began; nil when it does not hold. (Not an admin's Silence: that
	// mutes alerts.)
	SilentGroup *SilentGroup `json:"silent_group,omitempty"`
	// Inflight is the latest log PUT refused 503 overloaded because the
	// receiver's memory for request bodies was full: the limit an
	// overload alert names.
	Inflight *LimitSeen `json:"inflight,omitempty"`
}

// LimitSeen is a limit as a refusal's index line gave it.
type LimitSeen struct {
	At    time.Time `json:"at"`
	Used  int64     `json:"used"`
	Limit int64     `json:"limit"`
}

// Outage is a stretch in which the index heard from no one.
type Outage struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// offTrailing is how long after a sleep or shutdown beacon a request
// other than a heartbeat is the shipper's last batch, not the host awake
// again: the sleep hook and the shipper race, and the batch in flight
// when the hook fires often lands just after the beacon.
const offTrailing = time.Minute

// outageMin is the shortest stretch without any index line that counts as
// an outage: a fleet of a few hosts heartbeating every 5 minutes is never
// this quiet.
const outageMin = 10 * time.Minute

func newTracker(cfg config.FleetHealth) *Tracker {
	return &Tracker{Hosts: map[string]*Host{}, Fleet: &Fleet{}, cfg: cfg, names: map[subjectKey]string{}}
}

// keep is how long per-minute counts and switches are kept.
func (t *Tracker) keep() time.Duration { return t.cfg.FatalWindow.Duration() }

// activeBefore counts the hosts not off that were active in the
// fleet-silent window before ref.
func (t *Tracker) activeBefore(ref time.Time) int {
	n := 0
	for _, h := range t.Hosts {
		if h.Off == "" && !h.LastSeen.After(ref) && ref.Sub(h.LastSeen) <= t.cfg.FleetSilentWindow.Duration() {
			n++
		}
	}
	return n
}

// heard notes that the index heard something at ts: a long enough
// stretch of nothing before it, after an active fleet, was an outage.
func (t *Tracker) heard(ts time.Time) {
	f := t.Fleet
	if !f.LastAny.IsZero() && ts.Sub(f.LastAny) > outageMin && t.activeBefore(f.LastAny) >= t.cfg.FleetMin {
		f.Outages = append(f.Outages, Outage{From: f.LastAny, To: ts})
		keep := max(t.cfg.Window.Duration(), t.cfg.OffGoneAfter.Duration()) + 24*time.Hour
		drop := 0
		for drop < len(f.Outages) && (ts.Sub(f.Outages[drop].To) > keep || len(f.Outages)-drop > 256) {
			drop++
		}
		f.Outages = append([]Outage(nil), f.Outages[drop:]...)
	}
	if ts.After(f.LastAny) {
		f.LastAny = ts
	}
}

// outagesUntil lists the outages, with the one going on at now (nothing
// heard for outageMin after an active fleet).
func (t *Tracker) outagesUntil(now time.Time) []Outage {
	out := t.Fleet.Outages
	if last := t.Fleet.LastAny; !last.IsZero() && now.Sub(last) > outageMin && t.activeBefore(last) >= t.cfg.FleetMin {
		out = append(append([]Outage(nil), out...), Outage{From: last, To: now})
	}
	return out
}

// heardFor is how much of [since, now] the index was listening: the time
// outside outages, which is the only time a host's silence says anything.
func heardFor(since, now time.Time, outages []Outage) time.Duration {
	d := now.Sub(since)
	for _, o := range outages {
		from, to := maxTime(o.From, since), minTime(o.To, now)
		if to.After(from) {
			d -= to.Sub(from)
		}
	}
	return d
}

// subjectKey is what a request's subject depends on.
type subjectKey struct {
	host, certHost string
	auth, admin    bool
}

// subject is subjectOf(r), remembered: a fleet has few names and many
// lines.
func (t *Tracker) subject(r *index.Line) string {
	k := subjectKey{r.Host, r.CertHost, r.Auth, r.Admin != ""}
	if n, ok := t.names[k]; ok {
		return n
	}
	n := subjectOf(r)
	if len(t.names) < 100_000 {
		t.names[k] = n
	}
	return n
}

// subjectOf is the host a request counts for: the host its certificate,
// signed by the fleet CA, named, or else the host it authenticated as.
// Nothing else: a host name merely typed into a URL never makes a host
// look sick. Admin requests count for no host.
func subjectOf(r *index.Line) string {
	if r.Admin != "" {
		return ""
	}
	if r.CertHost != "" {
		h, err := names.Host(r.CertHost)
		if err != nil {
			return ""
		}
		return h
	}
	if r.Auth && r.Host != "" {
		h, err := names.Host(r.Host)
		if err != nil {
			return ""
		}
		return h
	}
	return ""
}

// Observe folds one index line in.
func (t *Tracker) Observe(r *index.Line) {
	t.heard(r.TS)
	n := max(r.Count, 1) // a line may stand for folded refusals
	name := t.subject(r)
	if name == "" {
		t.Unattributed += n
		return
	}
	h := t.Hosts[name]
	if h == nil {
		h = &Host{}
		t.Hosts[name] = h
	}
	latest := !r.TS.Before(h.LastSeen)
	if latest {
		trailing := h.trailing(r)
		if h.Off == "shutdown" && !trailing {
			h.BootAt = r.TS
		}
		if day := r.TS.Unix() / 86400; day != h.LastDay {
			h.LastDay, h.Days = day, h.Days+1
		}
		h.LastSeen = r.TS
		if !trailing {
			h.Off, h.OffAt = "", time.Time{}
		}
		if r.Endpoint == "heartbeat" && r.Status < 400 && (r.State == "shutdown" || r.State == "sleep") {
			h.Off, h.OffAt = r.State, r.TS
		}
		if h.LastReq == nil { // one per host, overwritten: Observe runs per line
			h.LastReq = &RequestSeen{}
		}
		*h.LastReq = RequestSeen{At: r.TS, Method: r.Method, Endpoint: r.Endpoint, Status: r.Status, Reason: r.Reason}
		if r.Endpoint == "heartbeat" && r.Status < 400 {
			h.Beat, h.BeatAt = r.State, r.TS
		}
	}
	ok := r.Status >= 200 && r.Status < 400
	if ok && r.TS.After(h.LastOK) {
		h.LastOK = r.TS
	}
	if r.Commit != "" && latest {
		h.Commit = r.Commit
	}
	if r.Endpoint == "host-health" && r.Method == http.MethodPut && ok && r.TS.After(h.LastReport) {
		h.LastReport, h.Days, h.LastDay = r.TS, 1, r.TS.Unix()/86400
	}
	if r.CertExpires != "" && latest {
		if t, err := time.Parse(time.RFC3339, r.CertExpires); err == nil {
			h.CertExpires = t
		}
	}
	if r.Instance != "" {
		h.instance(r.Instance, r.TS, latest, t.keep())
	}
	class := min(max(r.Status/100, 1), 5)
	if r.Method == http.MethodHead && r.Status == http.StatusNotFound && r.Endpoint == "logs" && r.Reason == wire.ReasonNoStream {
		// A shipper asking where a stream stands that it has not shipped
		// yet: an answer, not a failure, or every new host shows a 4xx.
		class = 2
	}
	h.hour(r.TS).N[class] += n

	m := h.minute(r.TS, t.keep())
	if r.Status >= 500 && r.Reason != wire.ReasonOverloaded { // backpressure with Retry-After is by design
		m.Any5++
	}
	if r.Endpoint != "logs" || r.Method != http.MethodPut {
		return
	}
	if !r.TS.Before(h.LastLogs) {
		h.LastLogs = r.TS
		h.Unstamped = r.Commit == ""
		// The gate's own answer to the latest log PUT, not a second
		// reckoning of what it accepts: releases published since, or an
		// accept list changed, show at once.
		switch {
		case r.Reason == wire.ReasonStaleCode:
			h.StaleCommit = r.Commit
		case ok:
			h.StaleCommit = ""
		}
		switch {
		case isQuotaRefusal(r):
			h.quotaRefused(r)
		case ok:
			h.OverQuota = nil
		}
	}
	if r.Reason == wire.ReasonOverloaded && r.Quota == wire.LimitInflight && (t.Fleet.Inflight == nil || !r.TS.Before(t.Fleet.Inflight.At)) {
		t.Fleet.Inflight = &LimitSeen{At: r.TS, Used: r.QuotaUsed, Limit: r.QuotaLimit}
	}
	if ok && r.LostCause != "" { // a loss of unknown size too: the journal renumbered
		h.lost(r)
	}
	switch {
	case ok:
		m.OK++
	case r.Status >= 500:
		m.C5++
	default:
		m.C4 += n
	}
	if r.Reason == wire.ReasonStaleCode {
		m.Stale++
	}
	if !ok && r.Reason != "" {
		if m.Reasons == nil {
			m.Reasons = map[string]int{}
		}
		if len(m.Reasons) < 16 || m.Reasons[r.Reason] > 0 {
			m.Reasons[r.Reason] += n
		}
	}
}

// trailing says whether r is the shipper's last batch after the host said
// it was going to sleep or shut down (within offTrailing of the beacon),
// which leaves the host off. A heartbeat, or any request later than
// that, says the host is awake again.
func (h *Host) trailing(r *index.Line) bool {
	return h.Off != "" && r.Endpoint != "heartbeat" && r.TS.Sub(h.OffAt) <= offTrailing
}

// instance notes an installation's request: when it was last seen, and a
// switch when the host's latest request came from another one.
func (h *Host) instance(id string, ts time.Time, latest bool, keep time.Duration) {
	if h.Instances == nil {
		h.Instances = map[string]time.Time{}
	}
	if last, ok := h.Instances[id]; !ok || ts.After(last) {
		h.Instances[id] = ts
	}
	if len(h.Instances) > maxInstances {
		oldest := ""
		for k, at := range h.Instances {
			if oldest == "" || at.Before(h.Instances[oldest]) {
				oldest = k
			}
		}
		delete(h.Instances, oldest)
	}
	if !latest {
		return
	}
	if h.LastInstance != "" && h.LastInstance != id {
		h.Switches = append(h.Switches, ts)
	}
	h.LastInstance = id
	drop := 0
	for drop < len(h.Switches) && (ts.Sub(h.Switches[drop]) > keep || len(h.Switches)-drop > 64) {
		drop++
	}
	h.Switches = h.Switches[drop:]
}

// minute returns the count for ts's minute, dropping minutes older than
// keep before it.
func (h *Host) minute(ts time.Time, keep time.Duration) *Minute {
	at := ts.Unix() / 60
	oldest := ts.Add(-keep).Unix()/60 - 1
	drop := 0
	for drop < len(h.Minutes) && h.Minutes[drop].At < oldest {
		drop++
	}
	if drop > 0 {
		h.Minutes = append(h.Minutes[:0], h.Minutes[drop:]...)
	}
	for i := len(h.Minutes) - 1; i >= 0; i-- {
		switch {
		case h.Minutes[i].At == at:
			return &h.Minutes[i]
		case h.Minutes[i].At < at:
			h.Minutes = append(h.Minutes, Minute{})
			copy(h.Minutes[i+2:], h.Minutes[i+1:])
			h.Minutes[i+1] = Minute{At: at}
			return &h.Minutes[i+1]
		}
	}
	h.Minutes = append([]Minute{{At: at}}, h.Minutes...)
	return &h.Minutes[0]
}

// hour returns the count for ts's hour, keeping the last 24.
func (h *Host) hour(ts time.Time) *Hour {
	at := ts.Unix() / 3600
	drop := 0
	for drop < len(h.Hours) && h.Hours[drop].At <= at-24 {
		drop++
	}
	if drop > 0 {
		h.Hours = append(h.Hours[:0], h.Hours[drop:]...)
	}
	for i := len(h.Hours) - 1; i >= 0; i-- {
		switch {
		case h.Hours[i].At == at:
			return &h.Hours[i]
		case h.Hours[i].At < at:
			h.Hours = append(h.Hours, Hour{})
			copy(h.Hours[i+2:], h.Hours[i+1:])
			h.Hours[i+1] = Hour{At: at}
			return &h.Hours[i+1]
		}
	}
	h.Hours = append([]Hour{{At: at}}, h.Hours...)
	return &h.Hours[0]
}

// Window sums the per-minute counts within d before now.
func (h *Host) Window(now time.Time, d time.Duration) Minute {
	var sum Minute
	from := now.Add(-d)
	for _, m := range h.Minutes {
		// Minutes wholly inside the window: it may look back up to a
		// minute less than d, never more.
		if m.At*60 >= from.Unix() && m.At*60 <= now.Unix() {
			sum.OK += m.OK
			sum.C4 += m.C4
			sum.C5 += m.C5
			sum.Stale += m.Stale
			sum.Any5 += m.Any5
			for r, n := range m.Reasons {
				if sum.Reasons == nil {
					sum.Reasons = map[string]int{}
				}
				sum.Reasons[r] += n
			}
		}
	}
	return sum
}

// Day sums the requests of the 24 hours before now by status class.
func (h *Host) Day(now time.Time) [6]int {
	var n [6]int
	at := now.Unix() / 3600
	for _, hr := range h.Hours {
		if hr.At > at-24 && hr.At <= at {
			for i := range n {
				n[i] += hr.N[i]
			}
		}
	}
	return n
}

// Last24 is Day hour by hour: [23] is the hour now, [0] 23 hours before.
func (h *Host) Last24(now time.Time) [24][6]int {
	var out [24][6]int
	at := now.Unix() / 3600
	for _, hr := range h.Hours {
		if i := 23 - (at - hr.At); i >= 0 && i < 24 {
			out[i] = hr.N
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

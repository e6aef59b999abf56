package fleethealth

import (
	"net/http"
	"time"
)

// Host is what the detector remembers of one host between runs: enough to
// judge it, and bounded whatever the history (per-minute counts for the
// fatal window, per-hour counts for a day).
type Host struct {
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	// Off is "shutdown" or "sleep" when that was the host's last word.
	Off string `json:"off,omitempty"`
	// Commit is the stamp of its latest request that carried one;
	// Unstamped whether its latest log PUT carried none.
	Commit    string    `json:"commit,omitempty"`
	Unstamped bool      `json:"unstamped,omitempty"`
	LastLogs  time.Time `json:"last_logs,omitzero"`
	// StaleCommit is the commit of its latest log PUT the gate refused.
	StaleCommit string           `json:"stale_commit,omitempty"`
	Minutes     []Minute         `json:"minutes,omitempty"`
	Hours       []Hour           `json:"hours,omitempty"`
	Instances   map[string]*Span `json:"instances,omitempty"`
	// CertExpires is when the certificate of its latest request expires.
	CertExpires time.Time `json:"cert_expires,omitzero"`
	// Gone is set once the host was reported gone, until it is seen again.
	Gone bool `json:"gone,omitempty"`
}

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

// Span is when an installation (X-Cis490-Instance) was seen for a host.
type Span struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// Tracker folds index lines into per-host state.
type Tracker struct {
	Hosts map[string]*Host `json:"hosts"`
	// keep is how long per-minute counts are kept: the fatal window.
	keep time.Duration
	// window is how long instance spans are kept.
	window time.Duration
	// Unattributed counts requests that named no host the detector may
	// hold responsible (unauthenticated, foreign certificates, admins).
	Unattributed int `json:"-"`
	names        map[subjectKey]string
}

func newTracker(fatalWindow, window time.Duration) *Tracker {
	return &Tracker{Hosts: map[string]*Host{}, keep: fatalWindow, window: window, names: map[subjectKey]string{}}
}

// subjectKey is what a request's subject depends on.
type subjectKey struct {
	host, certHost string
	auth, admin    bool
}

// subject is r.Subject(), remembered: a fleet has few names and many lines.
func (t *Tracker) subject(r *Rec) string {
	k := subjectKey{r.Host, r.CertHost, r.Auth, r.Admin != ""}
	if n, ok := t.names[k]; ok {
		return n
	}
	n := r.Subject()
	if len(t.names) < 100_000 {
		t.names[k] = n
	}
	return n
}

// Observe folds one index line in.
func (t *Tracker) Observe(r *Rec) {
	name := t.subject(r)
	if name == "" {
		t.Unattributed++
		return
	}
	h := t.Hosts[name]
	if h == nil {
		h = &Host{FirstSeen: r.TS}
		t.Hosts[name] = h
	}
	latest := !r.TS.Before(h.LastSeen)
	if latest {
		h.LastSeen = r.TS
		h.Gone = false
		h.Off = ""
		if r.Endpoint == "heartbeat" && r.Status < 400 && (r.State == "shutdown" || r.State == "sleep") {
			h.Off = r.State
		}
	}
	if r.TS.Before(h.FirstSeen) {
		h.FirstSeen = r.TS
	}
	ok := r.Status >= 200 && r.Status < 400
	if ok && r.TS.After(h.LastOK) {
		h.LastOK = r.TS
	}
	if r.Commit != "" && latest {
		h.Commit = r.Commit
	}
	if r.CertExpires != "" && latest {
		if t, err := time.Parse(time.RFC3339, r.CertExpires); err == nil {
			h.CertExpires = t
		}
	}
	if r.Instance != "" {
		if h.Instances == nil {
			h.Instances = map[string]*Span{}
		}
		if s := h.Instances[r.Instance]; s == nil {
			h.Instances[r.Instance] = &Span{First: r.TS, Last: r.TS}
		} else {
			s.First, s.Last = minTime(s.First, r.TS), maxTime(s.Last, r.TS)
		}
		for id, s := range h.Instances {
			if r.TS.Sub(s.Last) > t.window {
				delete(h.Instances, id)
			}
		}
	}
	h.hour(r.TS).N[min(max(r.Status/100, 1), 5)]++

	m := h.minute(r.TS, t.keep)
	if r.Status >= 500 {
		m.Any5++
	}
	if r.Endpoint != "logs" || r.Method != http.MethodPut {
		return
	}
	if !r.TS.Before(h.LastLogs) {
		h.LastLogs = r.TS
		h.Unstamped = r.Commit == ""
	}
	switch {
	case ok:
		m.OK++
	case r.Status >= 500:
		m.C5++
	default:
		m.C4++
	}
	if r.Reason == "stale-code" {
		m.Stale++
		h.StaleCommit = r.Commit
	}
	if !ok && r.Reason != "" {
		if m.Reasons == nil {
			m.Reasons = map[string]int{}
		}
		if len(m.Reasons) < 16 || m.Reasons[r.Reason] > 0 {
			m.Reasons[r.Reason]++
		}
	}
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
		if time.Unix((m.At+1)*60, 0).After(from) && m.At*60 <= now.Unix() {
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

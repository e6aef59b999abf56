package fleethealth

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/human"
)

// quietTogether is how close two hosts' last words must be for them to
// have gone quiet together: a room losing power or its switch silences
// every host within the minute, and their shippers' next requests were
// due within a heartbeat or two.
const quietTogether = 2 * time.Minute

// Bounds on a quiet host's detail: one paragraph a person reads on a phone,
// whatever the fleet's size or the doctor's report.
const (
	maxCompanions  = 3   // hosts named of those that went quiet together
	maxChecksNamed = 3   // failing doctor checks named
	maxCheckName   = 60  // bytes of one check's name
	maxFacts       = 800 // bytes of what the host last said, before the fix
)

// quietHost is a host that is quiet now though it never said it would be.
type quietHost struct {
	name string
	last time.Time
}

// quietHosts lists the hosts quiet for longer than silent_after without
// having said shutdown or sleep, by last word: a silence names the others
// that went quiet with it.
func quietHosts(t *Tracker, now time.Time, silentAfter time.Duration) []quietHost {
	var out []quietHost
	for n, h := range t.Hosts {
		if h.Off == "" && now.Sub(h.LastSeen) > silentAfter {
			out = append(out, quietHost{n, h.LastSeen})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].last.Equal(out[j].last) {
			return out[i].last.Before(out[j].last)
		}
		return out[i].name < out[j].name
	})
	return out
}

// quietWith names the hosts whose last word came within quietTogether of
// name's, up to maxCompanions of them, and counts them all.
func (e *evaluation) quietWith(name string, last time.Time) (names []string, n int) {
	q := e.quiet
	lo := sort.Search(len(q), func(i int) bool { return !q[i].last.Before(last.Add(-quietTogether)) })
	hi := sort.Search(len(q), func(i int) bool { return q[i].last.After(last.Add(quietTogether)) })
	for _, o := range q[lo:hi] {
		if o.name == name {
			continue
		}
		n++
		if len(names) < maxCompanions {
			names = append(names, o.name)
		}
	}
	return names, n
}

// lastWord says what a quiet host last said and when, then what to do:
// its last request and the receiver's answer (with that answer's fix when
// it was a refusal), its last heartbeat, its last doctor verdict, a
// certificate at or near its end, and the hosts that went quiet with it.
// Host-written text in it (check names, reasons) is made visible with the
// rest of the detail in Judgement.visible.
func (e *evaluation) lastWord(name string, h *Host) string {
	var facts []string
	refused := false
	if r := h.LastReq; r != nil {
		s := fmt.Sprintf("its last request, at %s, was %s answered %d", e.clock(r.At), requestName(r), r.Status)
		if r.Reason != "" {
			s += " " + r.Reason
		}
		if f := fixFor(r.Reason); f != "" && r.Status >= 400 {
			// The refusal it got last is the likeliest reason it stopped:
			// its fix comes first.
			s += " (" + f + ")"
			refused = true
		}
		facts = append(facts, s)
	}
	// No heartbeat known says nothing: state from before heartbeats were
	// kept has none until the next one.
	if !h.BeatAt.IsZero() && (h.LastReq == nil || h.LastReq.Endpoint != "heartbeat") {
		facts = append(facts, fmt.Sprintf("its last heartbeat, at %s, said %s", e.clock(h.BeatAt), beatState(h.Beat)))
	}
	if d := h.Doctor; d != nil {
		facts = append(facts, doctorWord(d, e))
	}
	if !h.CertExpires.IsZero() {
		switch left := h.CertExpires.Sub(e.now); {
		case left <= 0:
			facts = append(facts, fmt.Sprintf("its certificate expired at %s, so the receiver refuses it (`cis490 cert-fetch` on it, else `cis490 enroll`)", e.clock(h.CertExpires)))
		case left < certExpiringWithin:
			facts = append(facts, fmt.Sprintf("its certificate expires at %s (in %s)", e.clock(h.CertExpires), roundDur(left)))
		}
	}
	fix := "check its power and network"
	if with, n := e.quietWith(name, h.LastSeen); n > 0 {
		who := strings.Join(with, ", ")
		if n > len(with) {
			who += fmt.Sprintf(" and %d more (%s)", n-len(with), human.Count(n, "host"))
		}
		facts = append(facts, fmt.Sprintf("%s went quiet within %s of it", who, roundDur(quietTogether)))
		// Hosts falling silent together share a cause: a room's power
		// or switch before any one host's shipper.
		fix = "check the power and network it shares with them"
	}
	fix += ", then run `cis490 doctor` on it and read `journalctl -u cis490-shipper` there"
	if refused {
		fix = "fix that refusal first; if it stays quiet, " + fix
	}
	return clip(strings.Join(facts, "; "), maxFacts) + ": " + fix
}

// clock writes an instant in a quiet host's detail: the time of day when it
// is within a day of now, else the date too.
func (e *evaluation) clock(t time.Time) string {
	if e.now.Sub(t) < 20*time.Hour && t.Sub(e.now) < 20*time.Hour {
		return t.UTC().Format("15:04Z")
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// requestName names a request as a person reads it.
func requestName(r *RequestSeen) string {
	switch {
	case r.Endpoint == "logs" && r.Method == http.MethodPut:
		return "a log PUT"
	case r.Endpoint == "logs" && r.Method == http.MethodHead:
		return "a log HEAD"
	case r.Endpoint == "heartbeat":
		return "a heartbeat"
	case r.Endpoint == "host-health":
		return "a doctor report"
	case r.Endpoint == "":
		return "a " + r.Method
	}
	return "a " + r.Method + " to " + r.Endpoint
}

// beatState is a heartbeat's state; a shipper that sends none is up.
func beatState(s string) string {
	if s == "" {
		return "up"
	}
	return s
}

// doctorWord is a host's last doctor verdict with its failing checks.
func doctorWord(d *DoctorSeen, e *evaluation) string {
	if d.OK {
		return fmt.Sprintf("its last doctor report, at %s, passed", e.clock(d.At))
	}
	var checks []string
	for _, c := range d.Failing[:min(len(d.Failing), maxChecksNamed)] {
		checks = append(checks, clip(c, maxCheckName))
	}
	failing := strings.Join(checks, ", ")
	if more := len(d.Failing) - len(checks); more > 0 {
		failing += fmt.Sprintf(" and %d more", more)
	}
	if failing == "" {
		failing = clip(d.Summary, maxCheckName)
	}
	return fmt.Sprintf("its last doctor report, at %s, failed: %s", e.clock(d.At), failing)
}

// clip cuts s to at most n bytes, at the start of a rune, marking the cut.
func clip(s string, n int) string {
	if c := human.Clip(s, n); c != s {
		return c + "…"
	}
	return s
}

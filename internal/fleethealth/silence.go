package fleethealth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/human"
)

// Silence mutes alerts for a while, as Alertmanager's silences do: an
// alert it matches is still written to alerts.jsonl (marked with the
// silence's id) but no notifier is told. It matches an alert whose host
// the Host glob (path.Match; "" is any host) matches and whose symptom is
// Symptom ("" is any symptom), stamped in [Created, Ends). A "resolved"
// line matches as the symptom it resolves, so a silenced symptom does not
// page when it clears either. Fleet-level alerts carry host "*", which the
// glob "*" matches and "lab-*" does not.
type Silence struct {
	ID      string    `json:"id"`
	Host    string    `json:"host,omitempty"`
	Symptom string    `json:"symptom,omitempty"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	Ends    time.Time `json:"ends"`
}

// ActiveAt: the silence mutes alerts stamped t. An alert before it was
// created is not muted, so a replay (--now) of the hours before a silence
// pages as the live detector did.
func (s Silence) ActiveAt(t time.Time) bool {
	return !t.Before(s.Created) && t.Before(s.Ends)
}

// Matches: s mutes a.
func (s Silence) Matches(a Alert) bool {
	if !s.ActiveAt(a.TS) {
		return false
	}
	symptom := a.Symptom
	if symptom == Resolved {
		symptom = a.Resolves
	}
	if s.Symptom != "" && s.Symptom != symptom {
		return false
	}
	if s.Host != "" {
		if ok, _ := path.Match(s.Host, a.Host); !ok {
			return false
		}
	}
	return true
}

// Matcher is the silence's matcher for people: "host=lab-2* symptom=silent".
func (s Silence) Matcher() string {
	var parts []string
	if s.Host != "" {
		parts = append(parts, "host="+s.Host)
	}
	if s.Symptom != "" {
		parts = append(parts, "symptom="+s.Symptom)
	}
	return strings.Join(parts, " ")
}

// Symptoms are the symptom names a silence may name: every symptom an
// alert line can carry but "resolved", which follows the symptom it
// clears. A function, so no caller can change the list for the others.
func Symptoms() []string {
	return []string{Silent, FatalOnly, Unstamped, StaleCode, DuplicateIdentity, ReceiverFault, FleetSilent,
		DoctorFailing, CertExpiring, CertExpired, DoctorMissing, OverQuota, LostLogs, Gone}
}

// Silence limits: a silence lasts at most maxSilenceFor (longer is a
// config change: quiet hours, or `cis490 host remove`); an ended one is
// kept silencePruneAfter for `silence list --all`, then dropped; at most
// maxSilences are kept, so the file every run reads stays small.
const (
	maxSilenceFor     = 90 * 24 * time.Hour
	silencePruneAfter = 7 * 24 * time.Hour
	maxSilences       = 1000
)

// NewSilence checks what an admin asked for and makes the silence, from
// now for d. host is a glob of host names (any case); symptom one of
// Symptoms.
func NewSilence(host, symptom, reason, by string, now time.Time, d time.Duration) (Silence, error) {
	host, symptom, reason = strings.ToLower(strings.TrimSpace(host)), strings.TrimSpace(symptom), strings.TrimSpace(reason)
	switch {
	case host == "" && symptom == "":
		return Silence{}, errors.New("give --host GLOB, --symptom NAME or both: a silence of everything would hide the next outage")
	case reason == "":
		return Silence{}, errors.New("give --reason: the next admin needs to know why these alerts are not sent")
	case d <= 0:
		return Silence{}, fmt.Errorf("a silence must end in the future; %s is not a time to last", d)
	case d > maxSilenceFor:
		return Silence{}, fmt.Errorf("a silence lasts at most %s; for longer, set quiet_hours in [fleet_health] or `cis490 host remove` the host", human.Duration(maxSilenceFor))
	case strings.ContainsFunc(reason+by, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Silence{}, errors.New("--reason and --by are one line of text, without control characters")
	}
	if host != "" {
		if _, err := path.Match(host, ""); err != nil {
			return Silence{}, fmt.Errorf("--host %q is not a glob (as in lab-2?, room-b-*): %w", host, err)
		}
	}
	if known := Symptoms(); symptom != "" && !slices.Contains(known, symptom) {
		if symptom == Resolved {
			return Silence{}, errors.New(`"resolved" lines follow the symptom they clear: silence that symptom`)
		}
		if near := human.Nearest(symptom, known); near != "" {
			return Silence{}, fmt.Errorf("no symptom %q; did you mean %q?", symptom, near)
		}
		return Silence{}, fmt.Errorf("no symptom %q; the symptoms are %s", symptom, strings.Join(known, ", "))
	}
	var id [4]byte
	rand.Read(id[:]) // crypto/rand never fails on Linux
	now = now.UTC()
	return Silence{ID: hex.EncodeToString(id[:]), Host: host, Symptom: symptom, Reason: reason, By: by,
		Created: now, Ends: now.Add(d)}, nil
}

// silenced marks each alert a silence matches with the silence's id (the
// first that was created, so a replay marks as the live run did).
func silenced(alerts []Alert, silences []Silence) {
	for i := range alerts {
		for _, s := range silences {
			if s.Matches(alerts[i]) {
				alerts[i].Silenced = s.ID
				break
			}
		}
	}
}

// unsilenced is the alerts the notifiers are told of.
func unsilenced(alerts []Alert) []Alert {
	var out []Alert
	for _, a := range alerts {
		if a.Silenced == "" {
			out = append(out, a)
		}
	}
	return out
}

// ReadSilences returns the silences keep holds, oldest first; none when
// there is no file yet.
func ReadSilences(keep Store) ([]Silence, error) {
	b, err := keep.LoadSilences()
	if err != nil {
		return nil, fmt.Errorf("read the silences: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	var ss []Silence
	if err := json.Unmarshal(b, &ss); err != nil {
		return nil, fmt.Errorf("read the silences: not a list of silences (%w); fix or remove <data_dir>/fleet-health/silences.json, then add them again", err)
	}
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].Created.Before(ss[j].Created) })
	return ss, nil
}

// Active is the silences active at now.
func Active(ss []Silence, now time.Time) []Silence {
	var out []Silence
	for _, s := range ss {
		if s.ActiveAt(now) {
			out = append(out, s)
		}
	}
	return out
}

// Kept drops from ss the silences that ended more than silencePruneAfter
// before now: what ChangeSilences saves, and what `silence list --all`
// shows, whether or not the file was changed since.
func Kept(ss []Silence, now time.Time) []Silence {
	return slices.DeleteFunc(ss, func(s Silence) bool { return now.Sub(s.Ends) > silencePruneAfter })
}

// ChangeSilences runs change on the silences under the detector's lock
// (so a silence added while a run is on is neither lost nor half-seen),
// then saves them with those ended more than silencePruneAfter before now
// dropped. It refuses to keep more than maxSilences.
func ChangeSilences(keep Store, now time.Time, change func([]Silence) ([]Silence, error)) error {
	unlock, err := keep.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	ss, err := ReadSilences(keep)
	if err != nil {
		return err
	}
	ss = Kept(ss, now)
	before := len(ss)
	if ss, err = change(ss); err != nil {
		return err
	}
	if len(ss) > maxSilences && len(ss) > before {
		return fmt.Errorf("%d silences are kept already, the most there may be; expire some with `cis490 silence expire ID` (ended ones are dropped after %s)",
			before, human.Duration(silencePruneAfter))
	}
	b, err := jsonMarshal(ss)
	if err != nil {
		return err
	}
	if err := keep.SaveSilences(b); err != nil {
		return fmt.Errorf("save the silences: %w", err)
	}
	return nil
}

// ExpireSilence ends the silence id at now; an error names an id that is
// not there or has ended already.
func ExpireSilence(ss []Silence, id string, now time.Time) ([]Silence, error) {
	for i := range ss {
		if ss[i].ID != id {
			continue
		}
		if !now.Before(ss[i].Ends) {
			return nil, fmt.Errorf("silence %s ended already, at %s", id, ss[i].Ends.Format(time.RFC3339))
		}
		ss[i].Ends = now.UTC()
		return ss, nil
	}
	return nil, fmt.Errorf("no silence %s; `cis490 silence list --all` lists them", id)
}

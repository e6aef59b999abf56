package fleethealth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// Alert is one line of alerts.jsonl.
type Alert struct {
	TS      time.Time `json:"-"`
	Host    string    `json:"host"`
	Symptom string    `json:"symptom"`
	Detail  string    `json:"detail"`
	Bucket  string    `json:"bucket"` // the UTC hour, 2026-11-26T14
	// Resolves names the symptom a "resolved" line clears.
	Resolves string `json:"resolves,omitempty"`
	// Silenced names the silence that kept this line from the notifiers.
	Silenced string `json:"silenced,omitempty"`
}

// Bucket is the dedup bucket of t: its UTC hour.
func Bucket(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

// Track is a symptom's life on one host across runs.
type Track struct {
	Host    string `json:"host"`
	Symptom string `json:"symptom"`
	Detail  string `json:"detail"`
	// Holds counts consecutive runs it held; Clears consecutive runs it
	// did not, once fired.
	Holds  int  `json:"holds"`
	Clears int  `json:"clears,omitempty"`
	Fired  bool `json:"fired"`
	// Since is when it was first seen holding; Bucket the hour its
	// latest alert line went out, so a sustained fault fires once an hour.
	Since  time.Time `json:"since"`
	Bucket string    `json:"bucket,omitempty"`
	// Event is the latest event an event symptom alerted (Finding.Event).
	Event string `json:"event,omitempty"`
}

func trackKey(host, symptom string) string { return host + "\x00" + symptom }

// Verdict is a symptom's state after a run, for --dry-run and the fleet
// view.
type Verdict struct {
	Track
	// Alerted is set when this run writes an alert line for it.
	Alerted bool
	// Held: it holds, but is explained by a fleet-level symptom or quiet
	// hours, so it is neither repeated nor resolved.
	Held bool
}

// step advances every track by one run. confirm is how many runs a
// symptom must hold before it fires (and stay clear before it is
// resolved). It returns the alert lines this run writes and every live
// symptom's verdict.
func step(tracks map[string]*Track, j Judgement, now time.Time, confirm int) ([]Alert, []Verdict) {
	bucket := Bucket(now)
	var out []Alert
	var verdicts []Verdict
	seen := map[string]bool{}
	for _, fs := range [][]Finding{j.Found, j.Held} {
		for _, f := range fs {
			succeed(tracks, f, now, confirm)
		}
	}
	for _, f := range j.Found {
		k := trackKey(f.Host, f.Symptom)
		seen[k] = true
		t := tracks[k]
		if t == nil {
			t = &Track{Host: f.Host, Symptom: f.Symptom, Since: now}
			tracks[k] = t
		}
		t.Detail, t.Clears = f.Detail, 0
		t.Holds++
		if t.Bucket > Bucket(now.Add(time.Hour)) {
			// The clock was hours ahead and came back: do not stay mute
			// until it catches up (a step back within the hour keeps its
			// alert, so that hour does not fire twice).
			t.Bucket = bucket
		}
		v := Verdict{Track: *t}
		// Fire once confirmed, then once per hour bucket; a clock stepped
		// back into an hour already alerted does not fire it again. An
		// event (a loss) is a fact, not a measure to confirm: it fires at
		// once, and again only for a new one.
		fire := t.Holds >= confirm && (!t.Fired || bucket > t.Bucket)
		if ev := j.Events[k]; ev != "" {
			fire = !t.Fired || ev != t.Event
			t.Event = ev
		}
		if fire {
			t.Fired, t.Bucket = true, bucket
			out = append(out, Alert{TS: now, Host: f.Host, Symptom: f.Symptom, Detail: f.Detail, Bucket: bucket})
			v = Verdict{Track: *t, Alerted: true}
		}
		verdicts = append(verdicts, v)
	}
	for _, f := range j.Held {
		k := trackKey(f.Host, f.Symptom)
		seen[k] = true
		if t := tracks[k]; t != nil {
			t.Detail, t.Clears = f.Detail, 0 // frozen: not repeated, not resolved
			verdicts = append(verdicts, Verdict{Track: *t, Held: true})
		}
	}
	goneHosts := map[string]bool{}
	for _, g := range j.Gone {
		goneHosts[g.Host] = true
		out = append(out, Alert{TS: now, Host: g.Host, Symptom: Gone, Detail: g.Detail, Bucket: bucket})
	}
	keys := make([]string, 0, len(tracks))
	for k := range tracks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := tracks[k]
		if seen[k] {
			continue
		}
		if goneHosts[t.Host] {
			delete(tracks, k) // gone, never resolved
			continue
		}
		if !t.Fired || t.Event != "" {
			// It did not last (nobody was told, nobody needs to be), or it
			// was an event that has aged out: nothing was fixed to resolve.
			delete(tracks, k)
			continue
		}
		t.Holds = 0
		t.Clears++
		if t.Clears >= confirm {
			out = append(out, Alert{TS: now, Host: t.Host, Symptom: Resolved, Resolves: t.Symptom,
				Detail: t.Symptom + " cleared after " + roundDur(now.Sub(t.Since)) + " (it was: " + t.Detail + ")", Bucket: bucket})
			delete(tracks, k)
			continue
		}
		verdicts = append(verdicts, Verdict{Track: *t})
	}
	return out, verdicts
}

// predecessor is the symptom a symptom takes over from on the same host
// when it starts to hold: the one cause grown worse, not a new one.
func predecessor(symptom string) string {
	switch symptom {
	case CertExpired:
		return CertExpiring
	}
	return ""
}

// succeed hands a finding its predecessor's track, so the step is one
// alert: the predecessor is not resolved (its cause did not clear, it grew
// worse), and the successor fires on this run when the predecessor had
// already been confirmed and told.
func succeed(tracks map[string]*Track, f Finding, now time.Time, confirm int) {
	prev := predecessor(f.Symptom)
	if prev == "" || tracks[trackKey(f.Host, f.Symptom)] != nil {
		return
	}
	old := tracks[trackKey(f.Host, prev)]
	if old == nil {
		return
	}
	delete(tracks, trackKey(f.Host, prev))
	t := &Track{Host: f.Host, Symptom: f.Symptom, Since: now, Holds: old.Holds}
	if old.Fired {
		t.Holds = max(old.Holds, confirm-1)
	}
	tracks[trackKey(f.Host, f.Symptom)] = t
}

// MarshalJSON writes ts first, as the index does.
func (a Alert) MarshalJSON() ([]byte, error) {
	type plain Alert
	b := []byte(`{"ts":"` + a.TS.UTC().Format(index.TimeFormat) + `",`)
	rest, err := jsonMarshal(plain(a))
	if err != nil {
		return nil, err
	}
	return append(b, rest[1:]...), nil
}

// UnmarshalJSON reads a line written by MarshalJSON.
func (a *Alert) UnmarshalJSON(b []byte) error {
	type plain Alert
	var w struct {
		TS string `json:"ts"`
		plain
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	ts, err := time.Parse(time.RFC3339Nano, w.TS)
	if err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	*a = Alert(w.plain)
	a.TS = ts
	return nil
}

// jsonMarshal is json.Marshal without HTML escaping: details quote shell
// commands and arrows, which people read in a terminal.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

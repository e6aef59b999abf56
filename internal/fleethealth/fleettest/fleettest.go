// Package fleettest holds one fleet view, a host in each state, for the
// tests of everything that shows a host's state: the demo, `cis490
// status`, the dashboard and /v1/fleet each render these same rows and
// must show each host's state word and why as fleethealth.HostState
// wrote them. Only tests import it.
package fleettest

import (
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
)

// View is the fleet as of now: one host sick, one silent, one off, one ok
// but unstamped and one plainly ok, worst first; the silent one's
// alerts silenced by alice.
func View(now time.Time) *fleethealth.View {
	yes := true
	rows := []fleethealth.Row{
		{Host: "lab-stale", LastSeen: now.Add(-40 * time.Second), Commit: "0000000000000000000000000000000000000001", Stale: true,
			Symptoms: []fleethealth.Symptom{{Symptom: fleethealth.StaleCode, Firing: true, Since: now.Add(-time.Hour),
				Detail: "alive, but both its log PUTs were refused by the version gate"}}},
		{Host: "lab-quiet", LastSeen: now.Add(-91 * time.Second), Commit: "1111111111111111111111111111111111111111",
			Symptoms: []fleethealth.Symptom{{Symptom: fleethealth.Silent, Firing: true,
				Detail: "quiet for 1m, last seen " + now.Add(-91*time.Second).UTC().Format(time.RFC3339)}}},
		{Host: "lab-down", LastSeen: now.Add(-5 * time.Minute), Off: "shutdown", Commit: "1111111111111111111111111111111111111111"},
		{Host: "lab-nocommit", LastSeen: now.Add(-3 * time.Second),
			Symptoms: []fleethealth.Symptom{{Symptom: fleethealth.Unstamped, Firing: true,
				Detail: "its log PUTs carry no X-Cis490-Code-Commit"}}},
		{Host: "lab-well", LastSeen: now.Add(-2 * time.Second), Commit: "1111111111111111111111111111111111111111",
			Doctor: &fleethealth.Doctor{Received: now.Add(-time.Hour), Summary: "ok (12 checks)", OK: &yes}},
	}
	for i := range rows {
		r := &rows[i]
		r.LastOK = r.LastSeen
		r.CertExpires = now.Add(20 * 24 * time.Hour)
		r.Requests24h = map[string]int{"2xx": 10 * (i + 1), "3xx": 0, "4xx": i, "5xx": 0}
		if r.Symptoms == nil {
			r.Symptoms = []fleethealth.Symptom{}
		}
		r.State, r.Why = fleethealth.HostState(*r, now)
	}
	silences := []fleethealth.Silence{{ID: "5a1e0c3d", Host: "lab-quiet", Symptom: fleethealth.Silent, Reason: "being reimaged <today>",
		By: "alice", Created: now.Add(-time.Hour), Ends: now.Add(2 * time.Hour)}}
	return &fleethealth.View{AsOf: now, DetectorRan: now.Add(-time.Minute), Fleet: []fleethealth.Symptom{}, Hosts: rows, Silences: silences}
}

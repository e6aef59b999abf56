package fleethealth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHostState: each host gets one state word and one line saying why,
// in the words people read; durations agree with "last seen".
func TestHostState(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	sym := func(name, detail string, firing bool) Symptom {
		return Symptom{Symptom: name, Detail: detail, Firing: firing}
	}
	for _, c := range []struct {
		name       string
		row        Row
		state, why string
	}{
		{"well", Row{LastSeen: now.Add(-2 * time.Second)}, "ok", "nothing wrong"},
		{"unstamped is not sick", Row{LastSeen: now, Symptoms: []Symptom{sym(Unstamped, "", true)}},
			"ok", "nothing wrong, but unstamped: its build carries no commit, so nobody can tell which code it runs"},
		// 1m31s: "quiet for 1m", as human.Ago writes "last seen 1m ago".
		{"silent", Row{LastSeen: now.Add(-91 * time.Second), Symptoms: []Symptom{sym(Silent, "", true)}}, "silent", "quiet for 1m"},
		{"silent in quiet hours", Row{LastSeen: now.Add(-2 * time.Hour), Symptoms: []Symptom{{Symptom: Silent, Held: true}}},
			"silent", "quiet for 2h (expected: its quiet hours or a fleet-wide symptom)"},
		{"shut down", Row{LastSeen: now.Add(-5 * time.Minute), Off: "shutdown"}, "off", "shut down cleanly 5m ago"},
		{"asleep", Row{LastSeen: now.Add(-5 * time.Minute), Off: "sleep"}, "off", "said it was going to sleep 5m ago"},
		{"stale, confirming, and more", Row{LastSeen: now, Commit: "0000000000000000000000000000000000000001",
			Symptoms: []Symptom{sym(StaleCode, "", false), sym(DoctorMissing, "", true), sym(Unstamped, "", true)}},
			"sick", "stale-code: runs 000000000000, a release the version gate refuses (confirming); 2 more symptoms"},
		{"fatal-only", Row{LastSeen: now, Symptoms: []Symptom{sym(FatalOnly, "every log PUT failed: 3×4xx; mostly host-mismatch (3): reissue", true)}},
			"sick", "fatal-only: every log PUT failed: 3×4xx"},
		{"certificate", Row{LastSeen: now, CertExpires: now.Add(50 * time.Hour), Symptoms: []Symptom{sym(CertExpiring, "", true), sym(DoctorMissing, "", false)}},
			"sick", "cert-expiring: its certificate expires in 2d and it has not renewed it; 1 more symptom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			state, why := HostState(c.row, now)
			if state != c.state || why != c.why {
				t.Errorf("HostState = %q, %q; want %q, %q", state, why, c.state, c.why)
			}
		})
	}
}

// TestFleetJSONWhy: /v1/fleet carries the why as a new key and keeps
// "state" and its words, which scripts read.
func TestFleetJSONWhy(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	h := &Host{LastSeen: now.Add(-91 * time.Second)}
	row := hostRow("lab-1", h, []Symptom{{Symptom: Silent, Firing: true}}, now)
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"state":"silent","why":"quiet for 1m"`) {
		t.Errorf("row JSON: %s", b)
	}
}

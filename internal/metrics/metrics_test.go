package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}

// TestFleetCached: the fleet view is built at most once per FleetEvery
// however often Prometheus scrapes, and a view that cannot be built leaves
// the fleet metrics absent (not zero: "no hosts are sick" would be a lie).
func TestFleetCached(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	calls := 0
	fail := true
	m := New(Options{Now: func() time.Time { return now }, FleetEvery: time.Minute,
		Fleet: func(context.Context, time.Time) (Fleet, error) {
			calls++
			if fail {
				return Fleet{}, errors.New("no index yet")
			}
			return Fleet{Hosts: map[string]int{"sick": 2, "ok": 5}, Active: map[string]int{"silent": 1}, DetectorRan: now.Add(-time.Minute)}, nil
		}})
	if out := scrape(t, m); strings.Contains(out, "cis490_hosts") {
		t.Fatalf("fleet metrics from a view that failed:\n%s", out)
	}
	scrape(t, m)
	if calls != 1 {
		t.Fatalf("a view that failed was built again %d times within FleetEvery; a struggling receiver must not rebuild it every scrape", calls-1)
	}
	fail = false
	now = now.Add(time.Minute)
	out := scrape(t, m)
	for _, want := range []string{`cis490_hosts{state="sick"} 2`, `cis490_hosts{state="silent"} 0`, `cis490_active_symptoms{symptom="silent"} 1`,
		"cis490_detector_last_success_timestamp_seconds 1.7957808e+09"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
	scrape(t, m)
	if calls != 2 {
		t.Fatalf("%d fleet views built; want 2 (one failed, then one a minute later serving two scrapes)", calls)
	}
	now = now.Add(time.Minute)
	scrape(t, m)
	if calls != 3 {
		t.Fatalf("the view was not rebuilt after FleetEvery: %d", calls)
	}
	// It cannot be built any more: the last view is served a while, then
	// the fleet metrics go absent rather than stale.
	fail = true
	now = now.Add(time.Minute)
	if out := scrape(t, m); !strings.Contains(out, "cis490_hosts") {
		t.Fatal("a view one refresh old was dropped")
	}
	now = now.Add(3 * time.Minute)
	if out := scrape(t, m); strings.Contains(out, "cis490_hosts") {
		t.Fatal("a view several refreshes old is still served")
	}
}

package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoRuns runs the demo briefly: a real receiver, real TLS, and the
// simulated hosts show up with the outcomes they were built for.
func TestDemoRuns(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), Options{Dir: t.TempDir(), Duration: 12 * time.Second, Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"receiver on https://127.0.0.1:", "lab-101", "lab-102", "lab-103", "lab-105",
		"426 stale-code", "unstamped", "shutdown", "stopped. data:",
		// The detector's verdicts and alerts.
		"stale-code!", "unstamped!", "lab-105 silent: quiet for", "lab-104 stale-code: alive, but "} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
}

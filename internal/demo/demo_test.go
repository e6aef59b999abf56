package demo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/fleethealth/fleettest"
)

// TestDemoRuns runs the demo briefly: a real receiver, real TLS, and the
// simulated hosts show up with the outcomes they were built for.
func TestDemoRuns(t *testing.T) {
	var out, logs bytes.Buffer
	err := Run(context.Background(), Options{Dir: t.TempDir(), Duration: 12 * time.Second, Out: &out, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"receiver on https://127.0.0.1:", "dashboard on https://127.0.0.1:", "lab-101", "lab-102", "lab-103", "lab-105",
		"stale-code: runs 000000000000, a release the version gate refuses", "unstamped: its build carries no commit",
		"shut down cleanly", "stopped. data:",
		// The detector's verdicts and alerts.
		"lab-105  silent", "lab-105 silent: quiet for", "lab-104 stale-code: alive, but "} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	// The simulated hosts' logs exist before their shippers start: the
	// first screen is not a page of warnings that mean nothing here.
	if strings.Contains(logs.String(), "does not exist") {
		t.Errorf("the demo's hosts warned of missing sources:\n%s", logs.String())
	}
}

// TestRenderKeepsHeader: a terminal's redraw wipes the screen, and the
// frame puts the demo's folder, the addresses and the token file back
// above the table; a pipe gets them once, not every second.
func TestRenderKeepsHeader(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	header := []string{"cis490 demo in /tmp/d", "receiver on https://127.0.0.1:1", "dashboard on https://127.0.0.1:1/ui/ (log in with the token in /tmp/d/admin-token)", ""}
	for _, terminal := range []bool{true, false} {
		out := render(frame{header: header, terminal: terminal, view: fleettest.View(now)})
		if terminal {
			after, ok := strings.CutPrefix(out, "\033[H\033[J")
			if !ok || !strings.HasPrefix(after, strings.Join(header, "\n")+"\n") {
				t.Errorf("terminal frame does not start with clear, then the header:\n%q", out)
			}
		} else if strings.Contains(out, "dashboard on") || strings.Contains(out, "\033[") {
			t.Errorf("piped frame repeats the header or redraws:\n%s", out)
		}
	}
}

// TestRenderStateAndWhy: each host's line shows the state word and why
// fleethealth.HostState wrote, as `cis490 status` and the dashboard do.
func TestRenderStateAndWhy(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	v := fleettest.View(now)
	lines := strings.Split(render(frame{view: v}), "\n")
	for _, r := range v.Hosts {
		t.Run(r.Host, func(t *testing.T) {
			for _, l := range lines {
				if f := strings.Fields(l); len(f) > 1 && f[0] == r.Host {
					if f[1] != r.State || !strings.HasSuffix(l, "  "+r.Why) {
						t.Errorf("line %q; want state %q, why %q", l, r.State, r.Why)
					}
					return
				}
			}
			t.Errorf("no line for %s:\n%s", r.Host, strings.Join(lines, "\n"))
		})
	}
}

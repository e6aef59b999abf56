package dashboard

import (
	"context"
	"html"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/fleethealth/fleettest"
)

// TestPagesShowStateAndWhy: the fleet page's row and the host page show
// each host's state word and why as fleethealth.HostState wrote them,
// the words `cis490 status`, the demo and /v1/fleet use.
func TestPagesShowStateAndWhy(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "alice")
	v := fleettest.View(now)
	u.opt.Fleet = func(context.Context, time.Time) (*fleethealth.View, error) { return v, nil }
	cert := map[string]string{"X-Test-Cert": "yes"}
	fleet := do(u, http.MethodGet, "/ui/", "", cert).Body.String()
	for _, r := range v.Hosts {
		t.Run(r.Host, func(t *testing.T) {
			row := regexp.MustCompile(`(?s)<tr class="host" data-host="` + regexp.QuoteMeta(r.Host) + `".*?</tr>`).FindString(fleet)
			if !strings.Contains(row, `<span class="badge `+r.State+`">`+r.State+`</span>`) || !strings.Contains(row, `<td class="why">`+html.EscapeString(r.Why)) {
				t.Errorf("fleet page row; want %q, %q:\n%s", r.State, r.Why, row)
			}
			host := do(u, http.MethodGet, "/ui/host/"+r.Host, "", cert).Body.String()
			if !strings.Contains(host, `id="state">`+r.State+`</span> <span id="why">`+html.EscapeString(r.Why)+`</span>`) {
				t.Errorf("host page; want %q, %q:\n%s", r.State, r.Why, host)
			}
		})
	}
}

// TestChartTimeAxis: the host page's 24 h chart says when each part of
// it happened: the hour (UTC) every six hours, and "now" at its end.
func TestChartTimeAxis(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 40, 0, 0, time.UTC)
	var hourly [24][6]int
	hourly[23][2] = 5
	bars, peak := chart(hourly, now)
	var ticks []string
	for _, b := range bars {
		if b.Tick != "" {
			ticks = append(ticks, b.Tick)
		}
	}
	// The first bar is the hour 23 hours before this one: 13:00 yesterday.
	if got, want := strings.Join(ticks, " "), "13:00 19:00 01:00 07:00 now"; got != want || peak != 5 {
		t.Errorf("ticks %q, peak %d; want %q, 5", got, peak, want)
	}

	u := newUI(t, &now, "alice")
	u.opt.Fleet = func(context.Context, time.Time) (*fleethealth.View, error) {
		return &fleethealth.View{AsOf: now, Hosts: []fleethealth.Row{{Host: "lab-1", State: "ok", Why: "nothing wrong", LastSeen: now, Hourly: hourly}}}, nil
	}
	body := do(u, http.MethodGet, "/ui/host/lab-1", "", map[string]string{"X-Test-Cert": "yes"}).Body.String()
	for _, want := range []string{`<g class="axis">`, `text-anchor="middle">13:00</text>`, `text-anchor="middle">now</text>`, "hours in UTC"} {
		if !strings.Contains(body, want) {
			t.Errorf("host page lacks %q:\n%s", want, body)
		}
	}
}

// TestPagesShowSilences: the fleet page lists the active silences with
// what they match, until when, who set them and why (escaped), and the
// alert history marks the lines a silence kept from the notifiers.
func TestPagesShowSilences(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "alice")
	v := fleettest.View(now)
	u.opt.Fleet = func(context.Context, time.Time) (*fleethealth.View, error) { return v, nil }
	cert := map[string]string{"X-Test-Cert": "yes"}
	fleet := do(u, http.MethodGet, "/ui/", "", cert).Body.String()
	row := regexp.MustCompile(`(?s)<tr class="silence" data-id="5a1e0c3d">.*?</tr>`).FindString(fleet)
	for _, want := range []string{"host=lab-quiet symptom=silent", "2026-12-07 14:00 UTC", "alice <span class=\"muted\">1h ago</span>", "being reimaged &lt;today&gt;"} {
		if !strings.Contains(row, want) {
			t.Errorf("the fleet page's silence row lacks %q:\n%s", want, row)
		}
	}
	v.Silences = nil
	if fleet := do(u, http.MethodGet, "/ui/", "", cert).Body.String(); strings.Contains(fleet, `id="silences"`) {
		t.Error("the fleet page shows a silences table with no silence active")
	}

	lines := `{"ts":"2026-12-07T11:00:00Z","host":"lab-quiet","symptom":"silent","detail":"quiet for 40m","bucket":"2026-12-07T11","silenced":"5a1e0c3d"}
{"ts":"2026-12-07T11:00:00Z","host":"lab-stale","symptom":"stale-code","detail":"refused by the gate","bucket":"2026-12-07T11"}
`
	if err := os.WriteFile(datadir.Dir(u.opt.DataDir).Alerts(), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"/ui/alerts", "/ui/host/lab-quiet"} {
		body := do(u, http.MethodGet, page, "", cert).Body.String()
		if !strings.Contains(body, `<span class="fail">silent</span> <span class="muted">(silenced 5a1e0c3d)</span>`) {
			t.Errorf("%s does not mark lab-quiet's alert silenced:\n%s", page, body)
		}
		if strings.Count(body, "(silenced ") != 1 {
			t.Errorf("%s marks an alert no silence matched", page)
		}
	}
}

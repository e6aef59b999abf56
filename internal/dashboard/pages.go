package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/store"
)

var funcs = template.FuncMap{
	"ago":   human.Ago,
	"short": human.Commit,
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"utcs":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"bytes": human.Bytes,
}

func (u *UI) fleetPage(w http.ResponseWriter, r *http.Request, admin string) {
	now := u.opt.Now()
	v, err := u.opt.Fleet(r.Context(), now)
	if err != nil {
		u.fail(w, err)
		return
	}
	counts := map[string]int{}
	for _, h := range v.Hosts {
		counts[h.State]++
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	rows, hidden := fleetRows(v.Hosts, q, r.URL.Query().Get("all") != "")
	u.render(w, http.StatusOK, "fleet", map[string]any{"Title": "Fleet", "Admin": admin, "Now": now, "View": v,
		"Counts": counts, "Refresh": 30, "Rows": rows, "Hidden": hidden, "Q": q})
}

// maxHealthyShown bounds the healthy hosts the fleet page lists unasked:
// with thousands of hosts, the page is about the sick ones, and a Pi
// should not render every healthy row every 30 s.
const maxHealthyShown = 50

// fleetRows picks the fleet page's rows, worst first as the view has
// them: the hosts whose name contains q (any case), every one that is not
// ok and, unless all, the first maxHealthyShown that are. hidden counts
// the ok ones left out.
func fleetRows(hosts []fleethealth.Row, q string, all bool) (rows []fleethealth.Row, hidden int) {
	q = strings.ToLower(q)
	healthy := 0
	for _, h := range hosts {
		if q != "" && !strings.Contains(strings.ToLower(h.Host), q) {
			continue
		}
		if h.State == "ok" && !all {
			if healthy++; healthy > maxHealthyShown {
				hidden++
				continue
			}
		}
		rows = append(rows, h)
	}
	return rows, hidden
}

// chartBar is one hour of a host's requests, as SVG rectangles.
type chartBar struct {
	X     int
	Label string
	Segs  []chartSeg
	// Tick labels the time axis under this bar ("" for none): every six
	// hours, so a reader can tell when a spike happened without hovering.
	Tick  string
	TickX int
}

type chartSeg struct {
	Y, H  int
	Class string
}

// chart draws 24 hourly bars stacked by status class, scaled to the
// busiest hour, with the hours (UTC, as the dashboard's times are) under
// them.
func chart(hourly [24][6]int, now time.Time) ([]chartBar, int) {
	const height = 100
	peak := 0
	for _, h := range hourly {
		peak = max(peak, h[1]+h[2]+h[3]+h[4]+h[5])
	}
	bars := make([]chartBar, 24)
	for i, h := range hourly {
		at := now.Truncate(time.Hour).Add(time.Duration(i-23) * time.Hour)
		b := chartBar{X: i * 20, TickX: i*20 + 8, Label: fmt.Sprintf("%s: %d 2xx, %d 4xx, %d 5xx", at.UTC().Format("15:00"), h[2], h[4]+h[1]+h[3], h[5])}
		switch {
		case i == 23:
			b.Tick = "now"
		case i%6 == 0:
			b.Tick = at.UTC().Format("15:00")
		}
		y := height
		for _, c := range []struct {
			n     int
			class string
		}{{h[2], "c2"}, {h[1] + h[3] + h[4], "c4"}, {h[5], "c5"}} {
			if c.n == 0 || peak == 0 {
				continue
			}
			px := max(1, int(math.Round(float64(c.n)*height/float64(peak))))
			y -= px
			b.Segs = append(b.Segs, chartSeg{Y: y, H: px, Class: c.class})
		}
		bars[i] = b
	}
	return bars, peak
}

func (u *UI) hostPage(w http.ResponseWriter, r *http.Request, admin string) {
	host, err := names.Host(r.PathValue("host"))
	if err != nil {
		http.Error(w, "not a host name", http.StatusBadRequest)
		return
	}
	now := u.opt.Now()
	v, err := u.opt.Fleet(r.Context(), now)
	if err != nil {
		u.fail(w, err)
		return
	}
	var row *fleethealth.Row
	for i := range v.Hosts {
		if v.Hosts[i].Host == host {
			row = &v.Hosts[i]
		}
	}
	snap := readSnapshot(u.opt.HostHealth, host)
	alerts, err := u.opt.Detector.ReadAlerts(func(a fleethealth.Alert) bool { return a.Host == host }, 50)
	if err != nil {
		u.fail(w, err)
		return
	}
	streams, nStreams := u.streams(r.Context(), host)
	if row == nil && snap == nil && len(streams) == 0 && len(alerts) == 0 {
		u.render(w, http.StatusNotFound, "host", map[string]any{"Title": host, "Admin": admin, "Host": host, "Unknown": true})
		return
	}
	data := map[string]any{"Title": host, "Admin": admin, "Now": now, "Host": host, "Row": row, "Alerts": alerts,
		"Streams": streams, "MoreStreams": nStreams - len(streams), "Snapshot": snap}
	if row != nil {
		data["Bars"], data["Peak"] = chart(row.Hourly, now)
	}
	if snap != nil {
		var failing []hosthealth.Check
		for _, c := range snap.Checks {
			if c.Status == "fail" || c.Status == "warn" {
				failing = append(failing, c)
			}
		}
		data["Failing"] = failing
		data["Deviations"] = u.deviations(snap, now)
	}
	u.render(w, http.StatusOK, "host", data)
}

// maxStreamsShown bounds the streams a host page reads and shows.
const maxStreamsShown = 20

// streamView is one stream and its last lines.
type streamView struct {
	store.Info
	Tail string
}

// streams returns the views of host's streams shown, and how many it has.
func (u *UI) streams(ctx context.Context, host string) ([]streamView, int) {
	if u.opt.Streams == nil {
		return nil, 0
	}
	// The most recently written first, and only so many: a host may have
	// any number of streams, and each shows its tail.
	all, err := u.opt.Streams.List(ctx, host)
	if err != nil {
		u.opt.Log.Error("list streams", "host", host, "err", err)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Updated > all[j].Updated })
	list := all[:min(len(all), maxStreamsShown)]
	var out []streamView
	for _, in := range list {
		sv := streamView{Info: in}
		from := max(in.Start, in.Length-4096)
		if b, _, err := u.opt.Streams.Read(ctx, store.Key{Host: host, Stream: in.Stream}, from, 4096); err == nil {
			if from > in.Start {
				if i := bytes.IndexByte(b, '\n'); i >= 0 {
					b = b[i+1:] // a whole first line only
				}
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			sv.Tail = strings.Join(lines[max(0, len(lines)-10):], "\n")
		}
		out = append(out, sv)
	}
	return out, len(all)
}

// readSnapshot reads host's latest doctor report; nil when there is none
// or it is not one.
func readSnapshot(snaps hosthealth.Store, host string) *hosthealth.Report {
	snap, err := snaps.Read(host)
	if err != nil {
		return nil
	}
	rep, err := hosthealth.Parse(snap.Snapshot)
	if err != nil {
		return nil
	}
	return rep
}

func (u *UI) alertsPage(w http.ResponseWriter, r *http.Request, admin string) {
	host, symptom := strings.TrimSpace(r.URL.Query().Get("host")), strings.TrimSpace(r.URL.Query().Get("symptom"))
	if h, err := names.Host(host); err == nil {
		host = h // host names are case-insensitive; "*" (the fleet's alerts) stays
	}
	// One read: the filter's choices come from every alert, the rows from
	// those that match.
	all, err := u.opt.Detector.ReadAlerts(func(fleethealth.Alert) bool { return true }, math.MaxInt)
	if err != nil {
		u.fail(w, err)
		return
	}
	var alerts []fleethealth.Alert
	hosts, symptoms := map[string]bool{}, map[string]bool{}
	for _, a := range all {
		hosts[a.Host] = true
		if a.Resolves != "" {
			symptoms[a.Resolves] = true
		} else {
			symptoms[a.Symptom] = true
		}
		if len(alerts) < 500 && (host == "" || a.Host == host) && (symptom == "" || a.Symptom == symptom || a.Resolves == symptom) {
			alerts = append(alerts, a)
		}
	}
	u.render(w, http.StatusOK, "alerts", map[string]any{"Title": "Alerts", "Admin": admin, "Alerts": alerts,
		"Host": host, "Symptom": symptom, "Hosts": sortedKeys(hosts), "Symptoms": sortedKeys(symptoms), "FleetHost": fleethealth.FleetHost})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

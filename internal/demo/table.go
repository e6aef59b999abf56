package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/index"
)

// table prints, per host, what the fleet-health view makes of it (the
// state and why `cis490 status` and the dashboard show) and what the
// receiver's index says has arrived, then the detector's latest alerts.
type table struct {
	out      io.Writer
	ixDir    string
	terminal bool
	// header is what the demo said first (its folder, the receiver's and
	// the dashboard's addresses, the token file): a terminal's redraw
	// wipes the screen, so every frame starts with it again.
	header   []string
	alerts   []fleethealth.Alert // written by the detector's runs so far
	accepted string              // what the gate accepts, for stale-code's detail
}

func newTable(out io.Writer, ixDir, accepted string, header []string) *table {
	t := &table{out: out, ixDir: ixDir, accepted: accepted, header: header}
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			t.terminal = true
		}
	}
	return t
}

// arrived is what the index says reached the receiver from one host.
type arrived struct {
	streams map[string]bool
	bytes   int64
}

// frame is one drawing of the table: everything render needs, read
// before it runs, so what a user sees can be tested without a receiver.
type frame struct {
	header   []string
	problem  string // why there is no view to show, when there is none
	terminal bool
	view     *fleethealth.View
	arrived  map[string]*arrived
	alerts   []fleethealth.Alert
}

func (t *table) print(ctx context.Context, cfg *config.Receiver) {
	v, err := fleethealth.BuildView(ctx, fleethealth.Options{DataDir: cfg.DataDir, Cfg: cfg.FleetHealth, Accepted: t.accepted, Now: time.Now()})
	problem := ""
	if err != nil {
		v, problem = &fleethealth.View{AsOf: time.Now()}, fmt.Sprintf("(cannot read the fleet view: %v)", err)
	}
	got := map[string]*arrived{}
	index.Dir{Path: t.ixDir}.Read(ctx, index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		if l.Host == "" || l.Endpoint != "logs" || l.Status != 201 {
			return
		}
		a := got[l.Host]
		if a == nil {
			a = &arrived{streams: map[string]bool{}}
			got[l.Host] = a
		}
		a.streams[l.Stream] = true
		a.bytes += l.Bytes
	})
	io.WriteString(t.out, render(frame{header: t.header, problem: problem, terminal: t.terminal, view: v, arrived: got, alerts: t.alerts}))
}

// render draws a frame. On a terminal it redraws the screen in place,
// starting with the header so the addresses stay in sight; elsewhere
// (a pipe, a file) each frame follows the last and the header, printed
// once when the demo began, is not repeated.
func render(f frame) string {
	var b strings.Builder
	if f.terminal {
		b.WriteString("\033[H\033[J")
		for _, l := range f.header {
			b.WriteString(l + "\n")
		}
	}
	// The view's Partial note is not shown: before the detector's first
	// run (3 s into the demo) it would say it has not run for an hour.
	v := f.view
	if f.problem != "" {
		b.WriteString(f.problem + "\n")
	}
	fmt.Fprintf(&b, "%s   %-8s %-7s %-9s %7s %9s %13s  %s\n", v.AsOf.Local().Format("15:04:05"),
		"host", "state", "last seen", "streams", "bytes", "2xx/4xx/5xx", "why")
	for _, r := range v.Hosts {
		a := f.arrived[r.Host]
		if a == nil {
			a = &arrived{}
		}
		counts := fmt.Sprintf("%d/%d/%d", r.Requests24h["2xx"], r.Requests24h["4xx"], r.Requests24h["5xx"])
		fmt.Fprintf(&b, "           %-8s %-7s %-9s %7d %9d %13s  %s\n", human.Visible(r.Host), r.State, human.Ago(v.AsOf, r.LastSeen),
			len(a.streams), a.bytes, counts, human.Visible(r.Why))
	}
	if len(f.alerts) > 0 {
		b.WriteString("\n           latest alerts (the real fleet-health detector, every 3 s here; see alerts.jsonl):\n")
		for _, a := range f.alerts[max(0, len(f.alerts)-6):] {
			fmt.Fprintf(&b, "           %s %s\n", a.TS.Local().Format("15:04:05"), a.Text())
		}
	}
	if !f.terminal {
		b.WriteString("\n")
	}
	return b.String()
}

package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
)

// table prints, per host, what the receiver's index says has arrived and
// what the fleet-health detector makes of it, then its latest alerts.
type table struct {
	out      io.Writer
	ixDir    string
	terminal bool
	alerts   []fleethealth.Alert // written by the detector's runs so far
	accepted string              // what the gate accepts, for stale-code's detail
}

func newTable(out io.Writer, ixDir, accepted string) *table {
	t := &table{out: out, ixDir: ixDir, accepted: accepted}
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			t.terminal = true
		}
	}
	return t
}

type hostRow struct {
	streams    map[string]bool
	bytes      int64
	last       time.Time
	ok, c4, c5 int
	refusal    string
	unstamped  bool
	state      string
}

func (t *table) print(ctx context.Context, cfg *config.Receiver) {
	health := map[string]string{}
	if v, err := fleethealth.BuildView(ctx, fleethealth.Options{DataDir: cfg.DataDir, Cfg: cfg.FleetHealth, Accepted: t.accepted, Now: time.Now()}); err == nil {
		for _, r := range v.Hosts {
			health[r.Host] = r.Marks()
		}
	}
	rows := map[string]*hostRow{}
	index.Dir{Path: t.ixDir}.Read(ctx, index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		if l.Host == "" {
			return
		}
		r := rows[l.Host]
		if r == nil {
			r = &hostRow{streams: map[string]bool{}}
			rows[l.Host] = r
		}
		r.last = l.TS
		r.unstamped = l.Commit == ""
		switch {
		case l.Status < 300, l.Method == "HEAD" && l.Status == 404: // "no stream yet" is an answer, not a failure
			r.ok++
		case l.Status < 500:
			r.c4++
			r.refusal = fmt.Sprintf("%d %s", l.Status, l.Reason)
		default:
			r.c5++
			r.refusal = fmt.Sprintf("%d %s", l.Status, l.Reason)
		}
		if l.Endpoint == "logs" && l.Status == 201 {
			r.streams[l.Stream] = true
			r.bytes += l.Bytes
		}
		if l.Endpoint == "heartbeat" && l.Status < 300 {
			r.state = l.State
		} else if l.Status < 300 {
			r.state = "up"
		}
	})
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	if t.terminal {
		b.WriteString("\033[H\033[J") // redraw in place
	}
	fmt.Fprintf(&b, "%s   %-8s %-8s %7s %9s %6s %5s %5s  %-9s %-26s %s\n", time.Now().Format("15:04:05"),
		"host", "state", "streams", "bytes", "2xx", "4xx", "5xx", "last seen", "health (! = alerted)", "note")
	for _, n := range names {
		r := rows[n]
		note := r.refusal
		if r.unstamped {
			note = strings.TrimSpace(note + " unstamped")
		}
		fmt.Fprintf(&b, "           %-8s %-8s %7d %9d %6d %5d %5d  %-9s %-26s %s\n", n, r.state, len(r.streams), r.bytes,
			r.ok, r.c4, r.c5, time.Since(r.last).Round(time.Second).String()+" ago", health[n], note)
	}
	if len(t.alerts) > 0 {
		b.WriteString("\n           latest alerts (the real fleet-health detector, every 3 s here; see alerts.jsonl):\n")
		for _, a := range t.alerts[max(0, len(t.alerts)-6):] {
			fmt.Fprintf(&b, "           %s %s\n", a.TS.Local().Format("15:04:05"), a.Text())
		}
	}
	if !t.terminal {
		b.WriteString("\n")
	}
	io.WriteString(t.out, b.String())
}

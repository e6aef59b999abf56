package demo

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// table prints, per host, what the receiver's index says has arrived.
type table struct {
	out      io.Writer
	ixDir    string
	terminal bool
}

func newTable(out io.Writer, ixDir string) *table {
	t := &table{out: out, ixDir: ixDir}
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

func (t *table) print() {
	rows := map[string]*hostRow{}
	index.Scan(nil, t.ixDir, index.Pos{}, func(l index.Line) error {
		if l.Host == "" {
			return nil
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
		return nil
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
	fmt.Fprintf(&b, "%s   %-8s %-8s %7s %9s %6s %5s %5s  %-9s %s\n", time.Now().Format("15:04:05"),
		"host", "state", "streams", "bytes", "2xx", "4xx", "5xx", "last seen", "note")
	for _, n := range names {
		r := rows[n]
		note := r.refusal
		if r.unstamped {
			note = strings.TrimSpace(note + " unstamped")
		}
		fmt.Fprintf(&b, "           %-8s %-8s %7d %9d %6d %5d %5d  %-9s %s\n", n, r.state, len(r.streams), r.bytes,
			r.ok, r.c4, r.c5, time.Since(r.last).Round(time.Second).String()+" ago", note)
	}
	if !t.terminal {
		b.WriteString("\n")
	}
	io.WriteString(t.out, b.String())
}

package incidents

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// incident is one replayed incident: what happened, the index it left,
// and the alerts the detector must write for it, decided before it ran.
type incident struct {
	name string
	what string // one sentence of what happened
	// start is when it began: time to detect counts from here.
	start time.Time
	// from and to bound the timer's runs, every 5 minutes, both included.
	from, to time.Time
	// fleetHealth holds [fleet_health] keys besides syslog = "off";
	// config other tables of receiver.toml.
	fleetHealth, config string
	index               func(g *gen)
	// detects is the symptom whose first alert detects the incident; ""
	// when nothing may fire.
	detects string
	// want is every line alerts.jsonl must hold after the replay, in order.
	want []want
}

// want is one expected alert line: "host symptom" or "host resolved
// symptom", and what its detail must and must not say.
type want struct {
	line     string
	has, not []string
	// at, when set, is the UTC time of day ("10:55") the line must carry:
	// how soon it fired, or how soon it cleared.
	at string
}

// alertLine is one line of alerts.jsonl as the detector writes it.
type alertLine struct {
	TS       time.Time `json:"ts"`
	Host     string    `json:"host"`
	Symptom  string    `json:"symptom"`
	Detail   string    `json:"detail"`
	Bucket   string    `json:"bucket"`
	Resolves string    `json:"resolves"`
}

func (a alertLine) String() string {
	s := a.Host + " " + a.Symptom
	if a.Resolves != "" {
		s += " " + a.Resolves
	}
	return s
}

// replay writes the incident's receiver.toml, then advances the clock in
// 5-minute steps from inc.from to inc.to: before each run the index gains
// the lines stamped up to that instant (as the receiver wrote them), then
// `cis490 fleet-health --now` runs as the timer would. It returns every
// line of alerts.jsonl.
func replay(t *testing.T, inc incident) []alertLine {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "index"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "data_dir = \"data\"\n\n[fleet_health]\nsyslog = \"off\"\n" + inc.fleetHealth + "\n" + inc.config
	if err := os.WriteFile(filepath.Join(dir, "receiver.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &gen{hosts: map[string]int{}}
	inc.index(g)
	w := &writer{t: t, dir: filepath.Join(data, "index"), events: g.sorted()}
	for now := inc.from; !now.After(inc.to); now = now.Add(5 * time.Minute) {
		w.until(now)
		fleetHealth(t, dir, "--config", "receiver.toml", "--now", now.Format(time.RFC3339))
	}
	return readAlerts(t, filepath.Join(data, "alerts.jsonl"))
}

func readAlerts(t *testing.T, path string) []alertLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []alertLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a alertLine
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alerts.jsonl line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// detection is one incident's row of the time-to-detect table.
type detection struct {
	name, symptom string
	first         time.Time // zero: nothing fired
	ttd           time.Duration
}

func (d detection) row() string {
	if d.symptom == "" {
		return fmt.Sprintf("| %s | none, as expected | — |", d.name)
	}
	if d.first.IsZero() {
		return fmt.Sprintf("| %s | no %s: missed | — |", d.name, d.symptom)
	}
	return fmt.Sprintf("| %s | %s %s | %s |", d.name, d.symptom, d.first.UTC().Format("2006-01-02 15:04Z"), d.ttd)
}

// detect finds the first alert of the incident's symptom.
func detect(inc incident, got []alertLine) detection {
	d := detection{name: inc.name, symptom: inc.detects}
	for _, a := range got {
		if inc.detects != "" && a.Symptom == inc.detects {
			d.first, d.ttd = a.TS, a.TS.Sub(inc.start)
			break
		}
	}
	return d
}

// TestIncidents replays every incident of the library through the real
// binary: alerts.jsonl must hold exactly the alerts written down (no
// storm, no false resolved, no missed fault), each detail saying what it
// must. It logs the time to detect of each and, with
// CIS490_INCIDENT_REPORT=path, writes the table there. Then every alert
// the library wrote is held to the fixes' rule (checkFixes): one replay
// serves both.
func TestIncidents(t *testing.T) {
	var mu sync.Mutex
	var rows []detection
	var all []alertLine
	t.Run("replay", func(t *testing.T) {
		for _, inc := range library() {
			t.Run(inc.name, func(t *testing.T) {
				t.Parallel()
				got := replay(t, inc)
				d := detect(inc, got)
				mu.Lock()
				rows, all = append(rows, d), append(all, got...)
				mu.Unlock()
				if d.symptom != "" && !d.first.IsZero() {
					t.Logf("%s: detected by %s at %s, %s after it began", inc.what, d.symptom, d.first.Format(time.RFC3339), d.ttd)
				}
				checkAlerts(t, inc, got)
			})
		}
	})
	t.Run("fixes", func(t *testing.T) { checkFixes(t, all) })
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	table := []string{"| incident | first alert | time to detect |", "|---|---|---|"}
	for _, d := range rows {
		table = append(table, d.row())
	}
	t.Logf("time to detect:\n%s", strings.Join(table, "\n"))
	if path := os.Getenv("CIS490_INCIDENT_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(strings.Join(table, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkAlerts compares the alert lines with the incident's: the same lines
// in the same order, each detail saying what it must.
func checkAlerts(t *testing.T, inc incident, got []alertLine) {
	t.Helper()
	var g, w []string
	for _, a := range got {
		g = append(g, a.String())
	}
	for _, x := range inc.want {
		w = append(w, x.line)
	}
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		var b strings.Builder
		for _, a := range got {
			fmt.Fprintf(&b, "\n  %s %s: %s", a.TS.Format("15:04"), a, a.Detail)
		}
		t.Fatalf("%s\nalerts [%s]\nwant   [%s]\nalerts.jsonl:%s", inc.what, strings.Join(g, ", "), strings.Join(w, ", "), b.String())
	}
	for i, x := range inc.want {
		if x.at != "" && got[i].TS.UTC().Format("15:04") != x.at {
			t.Errorf("alert %d (%s) at %s; want %s", i+1, x.line, got[i].TS.UTC().Format("15:04"), x.at)
		}
		d := got[i].Detail
		for _, s := range x.has {
			if !strings.Contains(d, s) {
				t.Errorf("alert %d (%s) lacks %q: %s", i+1, x.line, s, d)
			}
		}
		for _, s := range x.not {
			if strings.Contains(d, s) {
				t.Errorf("alert %d (%s) says %q: %s", i+1, x.line, s, d)
			}
		}
	}
}

// The fleet the generators write: every host ships a log PUT every minute
// and heartbeats every 5 minutes, at its own second, as real shippers do.

// commitA is the release the fleet runs; commitB the one after it.
const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// certExpires is when the fleet's certificates expire: weeks after every
// incident, as a fleet whose cert-fetch timers renew them has.
const certExpires = "2026-12-20T08:00:00Z"

// event is something the receiver did to its index at an instant: a line
// appended, a line torn by a kill in the middle of its write, or the torn
// tail cut by the recovery of the receiver's next start.
type event struct {
	at   time.Time
	line *index.Line
	torn string // a line's beginning without its newline
	cut  bool   // recovery cuts the torn tail
}

// gen collects an incident's index, in any order.
type gen struct {
	events []event
	hosts  map[string]int // each host's number, for its own second
}

// fleet names n hosts lab-01 … lab-NN.
func fleet(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("lab-%02d", i+1)
	}
	return out
}

// num is the host's number: its shipper's second in each minute and
// heartbeat period.
func (g *gen) num(host string) int {
	n, ok := g.hosts[host]
	if !ok {
		n = len(g.hosts) + 1
		g.hosts[host] = n
	}
	return n
}

// req is a request by host, authenticated by its own certificate, as the
// receiver indexes it.
func (g *gen) req(host string, ts time.Time, endpoint string, status int, reason string) index.Line {
	n := g.num(host)
	l := index.Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: endpoint, Status: status,
		Commit: commitA, Instance: fmt.Sprintf("%08x%08x", uint32(n)*2654435761, uint32(n)*40503), Reason: reason,
		Remote: fmt.Sprintf("10.0.%d.%d:%d", n/200, 10+n%200, 40000+n), DurMS: 2.5, CertExpires: certExpires}
	if endpoint == "logs" {
		l.Stream, l.Bytes = "syslog", int64(2048+137*n)
	}
	if endpoint == "heartbeat" {
		l.State = "up"
	}
	if status == 401 {
		l.Auth = false
	}
	return l
}

func (g *gen) add(ls ...index.Line) {
	for i := range ls {
		l := ls[i]
		g.events = append(g.events, event{at: l.TS, line: &l})
	}
}

// ship is host shipping fine in [from, to): a log PUT a minute, a
// heartbeat every 5 minutes.
func (g *gen) ship(host string, from, to time.Time) {
	g.puts(host, from, to, time.Minute, nil)
	g.beats(host, from, to, nil)
}

// puts is host's log PUTs every d in [from, to), accepted unless edit
// changes them.
func (g *gen) puts(host string, from, to time.Time, d time.Duration, edit func(*index.Line)) {
	n := g.num(host)
	off := time.Duration(n*7%int(d/time.Second)) * time.Second
	for ts := from.Truncate(d).Add(off); ts.Before(to); ts = ts.Add(d) {
		if ts.Before(from) {
			continue
		}
		l := g.req(host, ts, "logs", 201, "")
		if edit != nil {
			edit(&l)
		}
		g.add(l)
	}
}

// beats is host's heartbeats, state up, every 5 minutes in [from, to).
func (g *gen) beats(host string, from, to time.Time, edit func(*index.Line)) {
	n := g.num(host)
	off := time.Duration(n*37%300) * time.Second
	for ts := from.Truncate(5 * time.Minute).Add(off); ts.Before(to); ts = ts.Add(5 * time.Minute) {
		if ts.Before(from) {
			continue
		}
		l := g.req(host, ts, "heartbeat", 200, "")
		if edit != nil {
			edit(&l)
		}
		g.add(l)
	}
}

// beat is one heartbeat saying state (up, sleep, shutdown).
func (g *gen) beat(host string, ts time.Time, state string) {
	l := g.req(host, ts, "heartbeat", 200, "")
	l.State = state
	g.add(l)
}

// tear is the receiver killed while it wrote a line at ts, and restarted
// at back, when its recovery cuts the torn tail (zero: not yet).
func (g *gen) tear(ts, back time.Time, partial string) {
	g.events = append(g.events, event{at: ts, torn: partial})
	if !back.IsZero() {
		g.events = append(g.events, event{at: back, cut: true})
	}
}

// sorted is the events in the order the receiver made them.
func (g *gen) sorted() []event {
	ev := append([]event(nil), g.events...)
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].at.Before(ev[j].at) })
	return ev
}

// writer appends the events to the day files as the clock reaches them,
// numbering lines as the receiver does.
type writer struct {
	t      *testing.T
	dir    string
	events []event
	next   int
	seq    uint64
	torn   map[string]int64 // day file → bytes of its torn tail
}

// until writes every event up to and including now.
func (w *writer) until(now time.Time) {
	w.t.Helper()
	for ; w.next < len(w.events) && !w.events[w.next].at.After(now); w.next++ {
		e := w.events[w.next]
		file := filepath.Join(w.dir, index.FileName(e.at))
		switch {
		case e.cut:
			for f, n := range w.torn {
				fi, err := os.Stat(f)
				if err != nil {
					w.t.Fatal(err)
				}
				if err := os.Truncate(f, fi.Size()-n); err != nil {
					w.t.Fatal(err)
				}
			}
			w.torn = nil
		case e.torn != "":
			w.append(file, []byte(e.torn))
			if w.torn == nil {
				w.torn = map[string]int64{}
			}
			w.torn[file] += int64(len(e.torn))
		default:
			if len(w.torn) > 0 {
				w.t.Fatalf("an index line at %s after a torn one the receiver's recovery has not cut", e.at.Format(time.RFC3339))
			}
			w.seq++
			e.line.Seq = w.seq
			b, err := e.line.MarshalJSON()
			if err != nil {
				w.t.Fatal(err)
			}
			w.append(file, append(b, '\n'))
		}
	}
}

func (w *writer) append(file string, b []byte) {
	w.t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		w.t.Fatal(err)
	}
}

package fleethealth

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// t0 is a Thursday, 10:00 UTC.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

const commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// fixture is a receiver data folder with an index the test writes, and
// the detector run over it as of instants the test picks.
type fixture struct {
	t    *testing.T
	data string
	cfg  config.FleetHealth
	seq  uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	data := t.TempDir()
	if err := os.MkdirAll(datadir.Dir(data).Index(), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultFleetHealth()
	cfg.Syslog = "off"
	return &fixture{t: t, data: data, cfg: cfg}
}

// add appends index lines, each to its UTC day's file, as the receiver
// writes them.
func (f *fixture) add(lines ...index.Line) {
	f.t.Helper()
	for _, l := range lines {
		f.seq++
		l.Seq = f.seq
		b, err := l.MarshalJSON()
		if err != nil {
			f.t.Fatal(err)
		}
		f.appendRaw(index.FileName(l.TS), append(b, '\n'))
	}
}

// addInOrder adds lines in the order of their stamps, as a receiver
// serving several hosts at once writes them: a replay stops at the first
// line stamped after its instant.
func (f *fixture) addInOrder(lines ...index.Line) {
	f.t.Helper()
	slices.SortStableFunc(lines, func(a, b index.Line) int { return a.TS.Compare(b.TS) })
	f.add(lines...)
}

func (f *fixture) appendRaw(file string, b []byte) {
	f.t.Helper()
	fh, err := os.OpenFile(filepath.Join(datadir.Dir(f.data).Index(), file), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Write(b); err != nil {
		f.t.Fatal(err)
	}
}

// put is a log PUT by host, authenticated as it.
func put(host string, ts time.Time, status int, reason string) index.Line {
	return index.Line{TS: ts, Host: host, Auth: status != 401, CertHost: host, Method: "PUT", Endpoint: "logs",
		Status: status, Commit: commitA, Instance: "inst-" + host, Reason: reason, Stream: "app.log"}
}

func heartbeat(host string, ts time.Time, state string) index.Line {
	return index.Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "heartbeat",
		Status: 200, Commit: commitA, Instance: "inst-" + host, State: state}
}

// every makes a line per interval in [from, to).
func every(from, to time.Time, d time.Duration, mk func(time.Time) index.Line) []index.Line {
	var out []index.Line
	for ts := from; ts.Before(to); ts = ts.Add(d) {
		out = append(out, mk(ts))
	}
	return out
}

// run is one detector run as of now (a replay: lines after now are not
// read yet).
func (f *fixture) run(now time.Time) *Result {
	f.t.Helper()
	res, err := Run(context.Background(), Options{DataDir: f.data, Cfg: f.cfg, Now: now, Replay: true, Accepted: "1.4.0 (89abcdef0123)"})
	if err != nil {
		f.t.Fatalf("run as of %s: %v", now.Format(time.RFC3339), err)
	}
	return res
}

// runLive is one run as if the clock said now (not a replay: every line
// is read, as the timer's runs do).
func (f *fixture) runLive(now time.Time) *Result {
	f.t.Helper()
	res, err := Run(context.Background(), Options{DataDir: f.data, Cfg: f.cfg, Now: now})
	if err != nil {
		f.t.Fatalf("run at %s: %v", now.Format(time.RFC3339), err)
	}
	return res
}

// alerts reads alerts.jsonl.
func (f *fixture) alerts() []Alert {
	f.t.Helper()
	fh, err := os.Open(datadir.Dir(f.data).Alerts())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	var out []Alert
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var a Alert
		if err := a.UnmarshalJSON(sc.Bytes()); err != nil {
			f.t.Fatalf("alerts.jsonl line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

// fired lists "host symptom" for alerts.
func fired(as []Alert) []string {
	var out []string
	for _, a := range as {
		s := a.Host + " " + a.Symptom
		if a.Resolves != "" {
			s += " " + a.Resolves
		}
		out = append(out, s)
	}
	return out
}

func wantAlerts(t *testing.T, when string, got []Alert, want ...string) {
	t.Helper()
	g := strings.Join(fired(got), ", ")
	w := strings.Join(want, ", ")
	if g != w {
		t.Fatalf("%s: alerts [%s]; want [%s]", when, g, w)
	}
}

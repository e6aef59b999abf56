package index

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// t0 is a Thursday, 10:00 UTC.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fixture is an index folder the test writes day files into, as the
// receiver writes them, and reads back.
type fixture struct {
	t   *testing.T
	dir string
	seq uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{t: t, dir: t.TempDir()}
}

// add appends lines, numbering them, each to its UTC day's file.
func (f *fixture) add(lines ...Line) {
	f.t.Helper()
	for _, l := range lines {
		f.seq++
		l.Seq = f.seq
		b, err := l.MarshalJSON()
		if err != nil {
			f.t.Fatal(err)
		}
		f.appendRaw(FileName(l.TS), append(b, '\n'))
	}
}

func (f *fixture) appendRaw(file string, b []byte) {
	f.t.Helper()
	fh, err := os.OpenFile(filepath.Join(f.dir, file), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Write(b); err != nil {
		f.t.Fatal(err)
	}
}

// put is a log PUT by host, authenticated as it.
func put(host string, ts time.Time, status int, reason string) Line {
	return Line{TS: ts, Host: host, Auth: status != 401, CertHost: host, Method: "PUT", Endpoint: "logs",
		Status: status, Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Instance: "inst-" + host, Reason: reason, Stream: "app.log"}
}

func heartbeat(host string, ts time.Time, state string) Line {
	return Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "heartbeat",
		Status: 200, Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Instance: "inst-" + host, State: state}
}

// healthy is a log PUT a minute in [from, to).
func healthy(host string, from, to time.Time) []Line {
	var out []Line
	for ts := from; ts.Before(to); ts = ts.Add(time.Minute) {
		out = append(out, put(host, ts, 201, ""))
	}
	return out
}

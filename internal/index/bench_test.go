package index

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkReadIndex is a full read of a day of index, 200 hosts at one
// request a minute (288,000 lines shaped as the receiver writes a log
// PUT, every key at its usual length): parsed and handed on, nothing
// folded. fleethealth's BenchmarkRebuild adds the detector's work on top.
func BenchmarkReadIndex(b *testing.B) {
	const hosts = 200
	dir := b.TempDir()
	writeDays(b, dir, t0.Add(-5*time.Minute-24*time.Hour), t0, hosts)
	b.ResetTimer()
	for b.Loop() {
		_, st, err := Dir{Path: dir}.Read(b.Context(), Checkpoint{}, t0.Add(-25*time.Hour), time.Time{}, func(*Line) {})
		if err != nil || st.Lines < 24*60*hosts {
			b.Fatalf("read %d lines, %v", st.Lines, err)
		}
	}
}

// BenchmarkParseLine parses lines shaped as BenchmarkReadIndex's (200
// hosts taking turns) one after another on one core, as each parser of
// a full read does: the parser's own cost, without reading or the
// parallel hand-off.
func BenchmarkParseLine(b *testing.B) {
	const hosts, n = 200, 10000
	var lines [][]byte
	for i := range n {
		l := benchLine(t0.Add(time.Duration(i)*time.Minute/hosts), fmt.Sprintf("lab-%04d", i%hosts), uint64(i+1))
		lines = append(lines, appendLine(nil, &l))
	}
	var l Line
	for b.Loop() {
		seen := &strs{}
		for _, line := range lines {
			if err := parseLine(line, &l, seen); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
}

// BenchmarkReadIndexLate is a first read late in the day: the day files
// of two days (576,000 lines), since a day ago, so the older file is
// mostly before since. "all" parses every line, as reads did before
// lines stamped before since were skipped unparsed ("skip").
func BenchmarkReadIndexLate(b *testing.B) {
	const hosts = 200
	dir := b.TempDir()
	end := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	writeDays(b, dir, end.Add(-47*time.Hour), end, hosts)
	for _, c := range []struct {
		name string
		tune parTune
	}{{"all", parTune{readEarly: true}}, {"skip", parTune{}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_, st, err := Dir{Path: dir, tune: c.tune}.Read(b.Context(), Checkpoint{}, end.Add(-24*time.Hour), time.Time{}, func(*Line) {})
				if err != nil || st.Lines != 24*60*hosts {
					b.Fatalf("read %d lines, %v", st.Lines, err)
				}
			}
		})
	}
}

// writeDays writes day files into dir from from to to: hosts taking turns,
// one request a minute each, every line shaped as the receiver writes a
// log PUT (every key at its usual length).
func writeDays(b *testing.B, dir string, from, to time.Time, hosts int) {
	b.Helper()
	files := map[string]*bufio.Writer{}
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	var seq uint64
	for ts := from; ts.Before(to); ts = ts.Add(time.Minute / time.Duration(hosts)) {
		seq++
		name := FileName(ts)
		w := files[name]
		if w == nil {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				b.Fatal(err)
			}
			opened = append(opened, f)
			w = bufio.NewWriterSize(f, 1<<20)
			files[name] = w
		}
		l := benchLine(ts, fmt.Sprintf("lab-%04d", seq%uint64(hosts)), seq)
		w.Write(append(appendLine(nil, &l), '\n'))
	}
	for i, w := range files {
		if err := w.Flush(); err != nil {
			b.Fatal(i, err)
		}
	}
}

// benchLine is a log PUT's index line as the receiver writes it, every
// key at its usual length.
func benchLine(ts time.Time, host string, seq uint64) Line {
	return Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "logs", Status: 201,
		Bytes: 4096, Commit: "3f786850e387550fdab836ed7e6dc881de23001b", Instance: "9c2b4f0e51a7d3c8",
		Remote: "10.0.12.47:51234", DurMS: 3.2, Stream: "syslog", Gate: "unknown-commit",
		CertExpires: "2027-11-26T10:00:00Z", Seq: seq}
}

package fleethealth

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
)

// benchHosts and benchEvery size the benchmarks' day of index: 200 hosts
// at one request a minute, 288,000 lines — a fifth of `cis490 bench
// fleet-health`'s default, so a run takes a fraction of a second.
const (
	benchHosts = 200
	benchEvery = time.Minute
)

// writeBenchIndex writes [from, to) of index lines shaped as the receiver
// writes a log PUT (every key, at its usual length), the hosts taking
// turns, and returns the next sequence number.
func writeBenchIndex(b *testing.B, dir string, from, to time.Time, seq uint64) uint64 {
	b.Helper()
	files := map[string]*bufio.Writer{}
	var opened []*os.File
	step := benchEvery / benchHosts
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		seq++
		name := index.FileName(ts)
		w := files[name]
		if w == nil {
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			opened = append(opened, f)
			w = bufio.NewWriterSize(f, 1<<20)
			files[name] = w
		}
		host := fmt.Sprintf("lab-%04d", seq%benchHosts)
		l := index.Line{TS: ts, Host: host, Auth: true, CertHost: host, Method: "PUT", Endpoint: "logs", Status: 201,
			Bytes: 4096, Commit: "3f786850e387550fdab836ed7e6dc881de23001b", Instance: "9c2b4f0e51a7d3c8",
			Remote: "10.0.12.47:51234", DurMS: 3.2, Stream: "syslog", Gate: "unknown-commit",
			CertExpires: "2027-11-26T10:00:00Z", Seq: seq}
		line, _ := l.MarshalJSON()
		w.Write(append(line, '\n'))
	}
	for _, w := range files {
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range opened {
		f.Close()
	}
	return seq
}

// benchData is a data folder with a day of index up to t0-5m, the state a
// run at that instant left, and five more minutes of index after it.
func benchData(b *testing.B) (data string, cfg config.FleetHealth) {
	b.Helper()
	data = b.TempDir()
	ix := datadir.Dir(data).Index()
	if err := os.MkdirAll(ix, 0o755); err != nil {
		b.Fatal(err)
	}
	cfg = config.DefaultFleetHealth()
	cfg.Syslog = "off"
	prev := t0.Add(-5 * time.Minute)
	seq := writeBenchIndex(b, ix, prev.Add(-24*time.Hour), prev, 0)
	if _, err := Run(b.Context(), Options{DataDir: data, Cfg: cfg, Now: prev}); err != nil {
		b.Fatal(err)
	}
	writeBenchIndex(b, ix, prev, t0, seq)
	return data, cfg
}

// BenchmarkRebuild is the detector's first run (no state): the last 24 h
// of the index read, folded and judged. Dry, so every iteration rebuilds.
func BenchmarkRebuild(b *testing.B) {
	data, cfg := benchData(b)
	fresh := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		res, err := Run(b.Context(), Options{DataDir: data, Cfg: cfg, Now: t0, DryRun: true, StateDir: fresh})
		if err != nil || res.Read.Lines < 24*60*benchHosts {
			b.Fatalf("read %d lines, %v", res.Read.Lines, err)
		}
	}
}

// BenchmarkIncremental is the timer's run: the state loaded, five more
// minutes of index read from its checkpoint, judged. Dry, so every
// iteration starts from the same state.
func BenchmarkIncremental(b *testing.B) {
	data, cfg := benchData(b)
	b.ResetTimer()
	for b.Loop() {
		res, err := Run(b.Context(), Options{DataDir: data, Cfg: cfg, Now: t0, DryRun: true})
		if err != nil || res.Read.Lines != 5*benchHosts {
			b.Fatalf("read %d lines, %v", res.Read.Lines, err)
		}
	}
}

package fleethealth

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/index"
)

// genIndex writes hosts × a request every `every` over the day before end
// into data/index, as the receiver would, and returns the line count.
func genIndex(tb testing.TB, data string, hosts int, every time.Duration, from, end time.Time) int {
	tb.Helper()
	dir := filepath.Join(data, "index")
	os.MkdirAll(dir, 0o755)
	files := map[string]*bufio.Writer{}
	var closers []*os.File
	n := 0
	var seq uint64
	step := every / time.Duration(hosts)
	i := 0
	for ts := from; ts.Before(end); ts = ts.Add(step) {
		h := fmt.Sprintf("lab-%04d", i%hosts)
		i++
		seq++
		l := index.Line{TS: ts, Host: h, Auth: true, CertHost: h, Method: "PUT", Endpoint: "logs", Status: 201,
			Bytes: 4096, Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Instance: "0123456789abcdef", Remote: "10.0.0.7:51234",
			DurMS: 3.2, Stream: "syslog", Gate: "unknown-commit", CertExpires: "2027-11-26T10:00:00Z", Seq: seq}
		name := index.FileName(ts)
		w := files[name]
		if w == nil {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				tb.Fatal(err)
			}
			closers = append(closers, f)
			w = bufio.NewWriterSize(f, 1<<20)
			files[name] = w
		}
		b, _ := l.MarshalJSON()
		w.Write(b)
		w.WriteByte('\n')
		n++
	}
	for _, w := range files {
		w.Flush()
	}
	for _, f := range closers {
		f.Close()
	}
	return n
}

func benchRun(b *testing.B, every time.Duration) {
	end := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	data := b.TempDir()
	n := genIndex(b, data, 1000, every, end.Add(-24*time.Hour), end)
	cfg := config.DefaultFleetHealth()
	cfg.Syslog = "off"
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			os.RemoveAll(filepath.Join(data, "fleet-health"))
			if _, err := Run(context.Background(), Options{DataDir: data, Cfg: cfg, Now: end.Add(-5 * time.Minute), Replay: true}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "lines")
	})
	b.Run("incremental-5m", func(b *testing.B) {
		state, _ := os.ReadFile(statePath(data))
		for b.Loop() {
			os.WriteFile(statePath(data), state, 0o640)
			if _, err := Run(context.Background(), Options{DataDir: data, Cfg: cfg, Now: end, Replay: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRun1PerMinute(b *testing.B) { benchRun(b, time.Minute) }
func BenchmarkRun1Per5s(b *testing.B)     { benchRun(b, 5*time.Second) }

package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// throughput ships Size bytes: a backlog in one file written before the
// shipper starts ("backlog"), lines written to one file while it runs
// ("growing"), or a backlog spread over Sources files ("spread"). It
// returns the figures and the files by stream.
func (r *shipRig) throughput(ctx context.Context, name string) (*ShipThroughput, map[string]string, error) {
	growing := name == "growing"
	nfiles := 1
	if name == "spread" {
		nfiles = r.o.Sources
	}
	res := &ShipThroughput{Name: name, Bytes: r.o.Size, Files: nfiles, MaxWait: DefaultMaxWait, Statuses: map[int]int64{}}
	dir := filepath.Join(r.dir, "files", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	files, sizes, paths := throughputFiles(dir, name, nfiles, r.o.Size)
	lm := NewLineMaker(1, "lab-pc-07")
	if !growing {
		r.progress("%s: writing %s of lines to %d file(s) in %s", name, sizeText(r.o.Size), nfiles, dir)
		n, err := writeBacklog(lm, files, sizes)
		if err != nil {
			return nil, nil, err
		}
		res.Lines = n
	}
	conf, err := r.writeConfig(name, paths, res.MaxWait)
	if err != nil {
		return nil, nil, err
	}
	// Flush dirty pages (the backlog just written, earlier runs' data) now,
	// not inside the measured window.
	syscall.Sync()
	if err := r.markIndex(); err != nil {
		return nil, nil, err
	}
	s0 := sampleCPU(r.t.PID, nil)
	start := time.Now()
	p, err := r.startShipper(conf)
	if err != nil {
		return nil, nil, err
	}
	defer p.kill()
	res.Log = p.log
	stopProfile := r.profile(p, name)
	type written struct {
		lines int64
		at    time.Time
		err   error
	}
	wrote := make(chan written, 1)
	if growing {
		r.progress("growing: writing %s of lines in %d-byte writes while the shipper runs", sizeText(r.o.Size), r.o.GrowChunk)
		res.Chunk = r.o.GrowChunk
		f, err := os.Create(paths[0])
		if err != nil {
			return nil, nil, err
		}
		go func() {
			n, err := lm.WriteLines(f, r.o.Size, r.o.GrowChunk)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			wrote <- written{n, time.Now(), err}
		}()
	}
	var at time.Time
	for stream := range files {
		if at, err = r.waitLength(ctx, p, stream, sizes[stream], 20*time.Millisecond); err != nil {
			break
		}
	}
	s1 := sampleCPU(r.t.PID, nil)
	stopProfile()
	usage, serr := p.stop()
	res.Shipper = usage
	if err != nil {
		return res, files, fmt.Errorf("%s: %w", name, err)
	}
	if serr != nil {
		return res, files, fmt.Errorf("%s: %w", name, serr)
	}
	if growing {
		w := <-wrote
		if w.err != nil {
			return res, files, w.err
		}
		res.Lines, res.WriteTime, res.Tail = w.lines, w.at.Sub(start), at.Sub(w.at)
	}
	res.Elapsed = at.Sub(start)
	res.setCPU(s0, s1)
	if err := r.countIndex(func(l index.Line) {
		if _, ours := files[l.Stream]; ours && l.Method == http.MethodPut && l.Endpoint == "logs" {
			res.PUTs++
			res.Statuses[l.Status]++
		}
	}); err != nil {
		return res, files, err
	}
	r.progress("%s: %s", name, FormatThroughputLine(res))
	return res, files, nil
}

// throughputFiles lays out a run's files: stream -> path, stream -> bytes,
// and the paths in order.
func throughputFiles(dir, name string, nfiles int, size int64) (files map[string]string, sizes map[string]int64, paths []string) {
	files, sizes = map[string]string{}, map[string]int64{}
	for i := range nfiles {
		base := name + ".log"
		if nfiles > 1 {
			base = fmt.Sprintf("%s-%02d.log", name, i)
		}
		path := filepath.Join(dir, base)
		// Whole MiB per file where the size allows (batch.max_bytes is
		// 1 MiB): a last batch of less would wait max_wait, which is not
		// throughput. The last file takes the rest.
		per := size / int64(nfiles)
		if per >= 1<<20 {
			per &^= 1<<20 - 1
		}
		files[base], sizes[base] = path, per
		if i == nfiles-1 {
			sizes[base] = size - per*int64(nfiles-1)
		}
		paths = append(paths, path)
	}
	return files, sizes, paths
}

// writeBacklog writes each file's bytes of lines before the shipper starts
// and returns how many lines that made.
func writeBacklog(lm *LineMaker, files map[string]string, sizes map[string]int64) (int64, error) {
	var lines int64
	for stream, path := range files {
		f, err := os.Create(path)
		if err != nil {
			return lines, err
		}
		n, err := lm.WriteLines(f, sizes[stream], 1<<20)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return lines, err
		}
		lines += n
	}
	return lines, nil
}

// setCPU fills the CPU figures from samples at the shipper's start and
// once the receiver held every byte.
func (t *ShipThroughput) setCPU(s0, s1 cpuSample) {
	t.Receiver = s1.proc - s0.proc
	t.Bench = s1.self - s0.self
	if total := s1.total - s0.total; total > 0 {
		t.Busy = float64(s1.busy-s0.busy) / float64(total)
	}
	// The shipper's rusage runs to its exit, a moment after the end.
	t.Others = max(0, time.Duration(s1.busy-s0.busy)*tick-t.Receiver-t.Bench-t.Shipper.CPU())
}

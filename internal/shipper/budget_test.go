package shipper

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/receivertest"
)

func TestBudget(t *testing.T) {
	b := newBudget(100)
	if n, _ := b.take(60); n != 60 {
		t.Fatalf("first take %d", n)
	}
	n, more := b.take(60)
	if n != 40 {
		t.Fatalf("second take %d; want the 40 left", n)
	}
	select {
	case <-more:
		t.Fatal("woken before anything was given back")
	default:
	}
	b.give(30)
	select {
	case <-more:
	case <-time.After(time.Second):
		t.Fatal("not woken when bytes were given back")
	}
	if n, _ := b.take(100); n != 30 {
		t.Fatalf("after giving 30 back, took %d", n)
	}
}

// TestManyBackloggedSources: far more backlog, in more sources, than the
// memory budget: everything arrives, in order, and the budget is whole
// again when the shipper stops (no stream kept bytes it did not give
// back).
func TestManyBackloggedSources(t *testing.T) {
	r := receivertest.Start(t, nil)
	admin := r.IssueAdmin("alice")
	dir := t.TempDir()
	var files []*logFile
	var sources []config.Source
	for i := range 12 {
		f := &logFile{t: t, path: filepath.Join(dir, fmt.Sprintf("s%02d.log", i))}
		f.write(12000) // ~0.8 MiB each, ~10 MiB in all: over twice the 4 MiB budget
		files = append(files, f)
		sources = append(sources, config.Source{Path: f.path})
	}
	h := newHost(t, r, "lab-1", sources...)
	h.start()
	for _, f := range files {
		waitFor(t, admin, r, "lab-1", filepath.Base(f.path), f.all)
	}
	h.stop()
	if free, _ := h.sh.mem.take(math.MaxInt); int64(free) != MemoryBudget(int64(h.cfg.Batch.MaxBytes)) {
		t.Fatalf("after the stop the budget has %d bytes free; want all %d back", free, MemoryBudget(int64(h.cfg.Batch.MaxBytes)))
	}
}

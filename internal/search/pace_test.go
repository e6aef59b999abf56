package search

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestPacerSharedByWorkers: a search's workers together scan no more than
// its share of a CPU, and a worker scanning alone has the whole share,
// not a worker's slice of it.
func TestPacerSharedByWorkers(t *testing.T) {
	const share, block, blocks = 0.5, 10 * time.Millisecond, 5
	run := func(workers int) time.Duration {
		p := newPacer(share, func() bool { return true })
		p.waiting = nil // the share alone, whatever else this process runs
		began := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range blocks {
					if err := p.scanned(t.Context(), block); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		return time.Since(began)
	}
	// Four workers' 200 ms of scanning at half a CPU: 400 ms, less what
	// the bucket may hold at the start.
	if d, least := run(4), time.Duration(float64(4*blocks*block)/share)-paceBurst; d < least {
		t.Errorf("4 workers paced to %g of a CPU rested %v in all; want at least %v", share, d, least)
	}
	// One worker's 50 ms at half a CPU: about 100 ms, not the 400 ms of a
	// quarter of the share.
	if d := run(1); d > 300*time.Millisecond {
		t.Errorf("1 worker paced to %g of a CPU rested %v; want about %v", share, d, time.Duration(float64(blocks*block)/share))
	}
	// Not busy: no rest.
	p := newPacer(share, func() bool { return false })
	began := time.Now()
	for range 100 {
		p.scanned(t.Context(), block)
	}
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Errorf("idle ingest: the pacer rested %v; want none", d)
	}
}

// TestPacerYieldsToWaitingGoroutines: while goroutines keep waiting for a
// CPU (ingest wants it), a search takes a fifth of its share; while a few
// wait, as at a light load, all of it.
func TestPacerYieldsToWaitingGoroutines(t *testing.T) {
	const share, block, blocks = 0.5, 10 * time.Millisecond, 5
	run := func(waitingPerCPU float64) time.Duration {
		p := newPacer(share, func() bool { return true })
		p.waiting = func() float64 { return waitingPerCPU * float64(runtime.GOMAXPROCS(0)) }
		began := time.Now()
		for range blocks {
			if err := p.scanned(t.Context(), block); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(began)
	}
	// 50 ms of scanning at half a CPU: about 100 ms, less the bucket's
	// start; five times as long when contended.
	light, want := run(1), time.Duration(float64(blocks*block)/share)
	if light > 3*want {
		t.Errorf("1 goroutine waiting per CPU: rested %v; want about %v", light, want)
	}
	heavy := run(100)
	if least := contendedCost*want - 2*paceBurst; heavy < least {
		t.Errorf("100 goroutines waiting per CPU: rested %v; want at least %v", heavy, least)
	}
}

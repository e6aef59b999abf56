package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// These tests run the real `cis490 ship` against a real receiver while a
// writer appends to the shipped files and rotates them (by rename and by
// copytruncate), SIGKILL the shipper (and, in the second test, the
// receiver) again and again, and check at the end that every stream holds
// exactly the bytes written to its file, in order: none lost, none twice.

// run writes until ctx ends: lines at a varying pace, with bursts and
// quiet spells, and rotates each file now and then.
func (w *shipWriter) run(ctx context.Context) error {
	for ctx.Err() == nil {
		s := w.sources[w.rng.IntN(len(w.sources))]
		if now := time.Now(); now.After(s.nextRotate) {
			if err := w.rotate(s, ""); err != nil {
				return fmt.Errorf("rotate %s: %w", s.path, err)
			}
			s.nextRotate = now.Add(shipRotateEvery + time.Duration(w.rng.Int64N(int64(2500*time.Millisecond))))
		}
		if err := w.write(s); err != nil {
			return err
		}
		switch p := w.rng.IntN(1000); {
		case p < 3:
			time.Sleep(time.Duration(200+w.rng.IntN(500)) * time.Millisecond) // quiet
		case p < 100:
			// burst: no pause
		default:
			time.Sleep(time.Duration(2000+w.rng.IntN(8000)) * time.Microsecond)
		}
	}
	return nil
}

// shipTest writes and rotates 3 sources while SIGKILLing the shipper (and,
// with killReceiver, the receiver) at random moments.
func shipTest(t *testing.T, killReceiver bool) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4b11))
	const shipperKills = 22

	// Two sources ship under their base names, one under a configured name.
	r := newShipRig(t, seed, "app.log", "syslog", "auth=auth.log")
	f, sp, w := r.f, r.sp, r.w

	began := time.Now()
	sp.Start()
	wctx, stopWriting := context.WithCancel(context.Background())
	defer stopWriting()
	werr := make(chan error, 1)
	go func() { werr <- w.run(wctx) }()
	writerDone := false
	checkWriter := func() {
		select {
		case err := <-werr:
			writerDone = true
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			t.Fatal("writer stopped early")
		default:
		}
	}
	defer func() {
		if !writerDone {
			stopWriting()
			<-werr
		}
	}()

	// SIGKILLs at random moments, mostly 50–500 ms apart; every few a
	// longer run, so that the shipper also gets through rotations it has
	// to wait a second for.
	rcvKills := 0
	var rcvDown time.Duration
	for step := 0; sp.kills < shipperKills && !t.Failed(); step++ {
		d := time.Duration(50+rng.IntN(451)) * time.Millisecond
		if step%5 == 4 {
			d = time.Duration(1000+rng.IntN(1000)) * time.Millisecond
		}
		time.Sleep(d)
		checkWriter()
		switch p := rng.IntN(10); {
		case killReceiver && p < 1:
			// The receiver alone.
			f.rcv.Kill()
			rcvKills++
			t0 := time.Now()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			f.rcv.Start()
			rcvDown += time.Since(t0)
		case killReceiver && p < 3:
			// Both: the shipper restarts while the receiver is down.
			f.rcv.Kill()
			rcvKills++
			t0 := time.Now()
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			sp.Kill()
			sp.Start()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			f.rcv.Start()
			rcvDown += time.Since(t0)
		default:
			sp.Kill()
			sp.Start()
		}
		if f.rcv.URL() != sp.url {
			// The receiver had to move to another port.
			sp.Kill()
			sp.Start()
		}
	}
	checkWriter()
	stopWriting()
	if err := <-werr; err != nil {
		t.Fatalf("writer: %v", err)
	}
	writerDone = true

	ls, grew := r.waitIdle(40 * time.Second)
	kills := sp.kills
	sp.Kill()
	total := r.verify(ls)

	if killReceiver {
		t.Logf("%d shipper SIGKILLs, %d receiver SIGKILLs (down %s in all); run %s; the streams grew for %s after the last write",
			kills, rcvKills, rcvDown.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), grew.Round(time.Millisecond))
	} else {
		t.Logf("%d shipper SIGKILLs; run %s; the streams grew for %s after the last write",
			kills, time.Since(began).Round(time.Millisecond), grew.Round(time.Millisecond))
	}
	log := readFrom(sp.logPath, 0)
	t.Logf("%d lines, %.1f MiB shipped; shipper log: %d warnings, %d errors, %d resyncs",
		w.lines, float64(total)/(1<<20), strings.Count(log, "level=WARN"), strings.Count(log, "level=ERROR"),
		strings.Count(log, "the receiver stands elsewhere")+strings.Count(log, "does not fit this file"))
	for _, s := range r.sources {
		t.Logf("  %-8s %8d bytes in %2d generations (%d renames, %d with late writes; %d copytruncates)",
			s.stream, len(s.want), len(s.gens), s.renames, s.late, s.copytruncs)
	}
}

func TestShipperKill9(t *testing.T) { shipTest(t, false) }

func TestShipperAndReceiverKill9(t *testing.T) { shipTest(t, true) }

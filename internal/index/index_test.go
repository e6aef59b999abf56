package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/testseed"
	"github.com/cis490/cis490/internal/vfs/crashfs"
)

func TestLineShape(t *testing.T) {
	l := Line{TS: time.Date(2026, 11, 26, 14, 3, 7, 123456789, time.UTC), Host: "elliott-thinkpad", Auth: true,
		CertHost: "elliott-thinkpad", Method: "PUT", Endpoint: "logs", Status: 201, Bytes: 4096,
		Remote: "10.0.0.7:51234", DurMS: 3.2}
	b, err := l.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ts":"2026-11-26T14:03:07.123Z","host":"elliott-thinkpad","auth":true,"cert_host":"elliott-thinkpad","method":"PUT","endpoint":"logs","status":201,"bytes":4096,"commit":"","instance":"","reason":"","remote":"10.0.0.7:51234","dur_ms":3.2}`
	if string(b) != want {
		t.Fatalf("line =\n%s\nwant\n%s", b, want)
	}
	var back Line
	if err := back.UnmarshalJSON(b); err != nil || !back.TS.Equal(l.TS.Truncate(time.Millisecond)) || back.Host != l.Host {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

// TestIndexPowerLoss: every line whose Write returned survives a power loss,
// and after the writer reopens, readers see only whole lines.
func TestIndexPowerLoss(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	fsys := crashfs.New(rand.New(rand.NewPCG(seed, 2)))
	day := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	acked := map[string]bool{}
	for round := 0; round < 60; round++ {
		g := groupsync.New()
		ctx, cancel := context.WithCancel(context.Background())
		var gwg sync.WaitGroup
		gwg.Go(func() { g.Run(ctx) })
		w, err := OpenWriter(fsys, "/data/index", g, nil)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		crashAt := 1 + rng.IntN(30)
		var once sync.Once
		crash := func() { once.Do(func() { fsys.Crash(crashfs.RandomMode(rng)) }) }
		for wk := 0; wk < 4; wk++ {
			wg.Go(func() {
				for i := 0; i < crashAt; i++ {
					id := fmt.Sprintf("r%d-w%d-%d", round, wk, i)
					// Every third round crosses midnight, to rotate the file.
					ts := day.Add(time.Duration(round/3) * 24 * time.Hour).Add(time.Duration(i) * time.Minute * 30)
					if err := w.Write(ctx, Line{TS: ts, Host: id, Method: "PUT", Status: 201}); err != nil {
						return
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		crash()
		wg.Wait()
		cancel()
		gwg.Wait()

		// Reopen: the writer cuts what was torn; then every acked line is there.
		g2 := groupsync.New()
		ctx2, cancel2 := context.WithCancel(context.Background())
		var g2wg sync.WaitGroup
		g2wg.Go(func() { g2.Run(ctx2) })
		w2, err := OpenWriter(fsys, "/data/index", g2, nil)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := Files(fsys, "/data/index")
		for _, f := range files { // the writer repairs a file when it appends to it
			ts, _ := time.Parse("2006-01-02", f[:10])
			if err := w2.Write(ctx2, Line{TS: ts.Add(time.Hour), Host: "marker", Status: 200}); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		_, st, err := Dir{FS: fsys, Path: "/data/index"}.Read(ctx2, Checkpoint{}, time.Time{}, time.Time{}, func(l *Line) { seen[l.Host] = true })
		if err != nil || st.Malformed != 0 {
			t.Fatalf("round %d: read: %v, %d malformed lines after repair", round, err, st.Malformed)
		}
		for id := range acked {
			if !seen[id] {
				t.Fatalf("round %d: acknowledged line %s lost", round, id)
			}
		}
		w2.Close()
		cancel2()
		g2wg.Wait()
	}
}

func TestPrune(t *testing.T) {
	fsys := crashfs.New(rand.New(rand.NewPCG(1, 2)))
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	w, err := OpenWriter(fsys, "/ix", g, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for d := 10; d >= 0; d-- {
		if err := w.Write(ctx, Line{TS: now.Add(-time.Duration(d) * 24 * time.Hour), Host: "h"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.Prune(now, 5*24*time.Hour, 0)
	if err != nil || n != 5 {
		t.Fatalf("prune by age removed %d, %v; want the 5 files older than 5 days", n, err)
	}
	n, err = w.Prune(now, 0, 1)
	if err != nil || n != 5 {
		t.Fatalf("prune by size removed %d, %v; want all but today's", n, err)
	}
	files, _ := Files(fsys, "/ix")
	if len(files) != 1 || files[0] != FileName(now) {
		t.Fatalf("left %v; today's file must stay", files)
	}
}

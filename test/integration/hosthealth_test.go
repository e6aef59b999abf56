package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostHealthSurvivesKill9: a host keeps replacing its doctor snapshot
// while the receiver is SIGKILLed at random moments; after every kill the
// stored snapshot is one whole body — the last one acknowledged or the
// one in flight — never torn or mixed, and a restart leaves no temp file.
func TestHostHealthSurvivesKill9(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 5))
	f := newFleet(t, []string{"it-h0"}, true)
	f.rcv.Start()
	c := f.hosts["it-h0"]
	bodies := make([][]byte, 3)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"schema":1,"ok":true,"n":%d,"pad":%q}`, i, strings.Repeat(string(rune('a'+i)), 200<<10)))
	}
	file := filepath.Join(f.rcv.dataDir, "host-health", "it-h0.json")
	put := func(b []byte) int {
		req, _ := http.NewRequest(http.MethodPut, f.rcv.URL()+"/v1/host-health/it-h0", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	lastAcked := -1
	for round := range 8 {
		var inFlight, acked atomic.Int64
		inFlight.Store(-1)
		acked.Store(int64(lastAcked))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for i := round; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % len(bodies)
				inFlight.Store(int64(k))
				switch put(bodies[k]) {
				case http.StatusOK:
					acked.Store(int64(k))
				case 0:
					return // the receiver is gone
				default:
					t.Errorf("round %d: a snapshot PUT was refused (seed %d)", round, seed)
					return
				}
			}
		})
		time.Sleep(time.Duration(30+rng.IntN(150)) * time.Millisecond)
		f.rcv.Kill()
		close(stop)
		wg.Wait()
		lastAcked = int(acked.Load())
		got, err := os.ReadFile(file)
		if lastAcked < 0 && os.IsNotExist(err) {
			f.rcv.Start()
			continue
		}
		if err != nil {
			t.Fatalf("round %d: %v (seed %d)", round, err, seed)
		}
		whole := lastAcked >= 0 && bytes.Equal(got, bodies[lastAcked]) ||
			inFlight.Load() >= 0 && bytes.Equal(got, bodies[inFlight.Load()])
		if !whole {
			t.Fatalf("round %d: after SIGKILL the snapshot (%d bytes, %q…) is neither the last acknowledged body (%d) nor the one in flight (%d) (seed %d)",
				round, len(got), clip(got, 40), lastAcked, inFlight.Load(), seed)
		}
		for k := range bodies {
			if bytes.Equal(got, bodies[k]) {
				lastAcked = k // what the next round must find at least
			}
		}
		f.rcv.Start()
		ents, _ := os.ReadDir(filepath.Dir(file))
		for _, e := range ents {
			if e.Name() != "it-h0.json" {
				t.Fatalf("round %d: %s left in host-health after a restart (seed %d)", round, e.Name(), seed)
			}
		}
	}
	if lastAcked < 0 {
		t.Fatalf("no snapshot was ever acknowledged: the test tested nothing (seed %d)", seed)
	}
}

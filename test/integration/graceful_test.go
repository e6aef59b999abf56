package integration

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowReader hands out its bytes in pieces with a pause before each but the
// first, so a request's body is still being sent when the receiver is told
// to stop.
type slowReader struct {
	data    []byte
	piece   int
	pause   time.Duration
	started bool
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	if s.started {
		time.Sleep(s.pause)
	}
	s.started = true
	n := copy(p[:min(len(p), s.piece)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestGracefulShutdown stops the receiver with SIGTERM while hosts are in the
// middle of sending: it must exit 0 within a few seconds, answer every
// request it had begun to read (none may see its connection reset), and
// keep every byte it answered 201 for.
func TestGracefulShutdown(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	hostNames := []string{"it-g0", "it-g1", "it-g2", "it-g3"}
	// One connection per request: then a request whose headers went out was
	// read by the receiver (an idle keep-alive connection closed by the
	// shutdown cannot be mistaken for a dropped request).
	f := newFleet(t, hostNames, false)
	f.rcv.Start()

	type sent struct {
		host       string
		o, n       int64
		res        result
		lengthSeen int64
	}
	var (
		mu      sync.Mutex
		all     []sent
		acked   = map[string]int64{}
		upper   = map[string]int64{}
		warm    sync.WaitGroup
		wg      sync.WaitGroup
		termAt  atomic.Int64 // unix nanoseconds of SIGTERM
		stopped = make(chan struct{})
	)
	warm.Add(len(hostNames))
	for i, h := range hostNames {
		c := f.hosts[h]
		data := content{seed: seed, name: h + "/app.log"}
		r := rand.New(rand.NewPCG(uint64(seed), uint64(10+i)))
		wg.Go(func() {
			var known int64
			first := true
			for {
				n := 64<<10 + r.Int64N(448<<10)
				o := known
				mu.Lock()
				upper[h] = o + n
				mu.Unlock()
				body := &slowReader{data: data.at(o, n), piece: 16 << 10, pause: 4 * time.Millisecond}
				res := c.do(http.MethodPut, h, "app.log", fmt.Sprintf("offset=%d", o), body, n)
				L, _ := res.length()
				mu.Lock()
				all = append(all, sent{host: h, o: o, n: n, res: res, lengthSeen: L})
				mu.Unlock()
				if first {
					first = false
					warm.Done()
				}
				if res.err != nil {
					return // the receiver is gone
				}
				if res.status != http.StatusCreated || L != o+n {
					t.Errorf("%s: PUT offset %d, %d bytes answered %d %s; want 201 with length %d (seed %d)", h, o, n, res.status, res.body, o+n, seed)
					return
				}
				known = L
				mu.Lock()
				acked[h] = L
				mu.Unlock()
				select {
				case <-stopped:
					return
				default:
				}
			}
		})
	}
	warm.Wait()
	if t.Failed() {
		wg.Wait()
		return
	}
	time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
	termAt.Store(time.Now().UnixNano())
	code, took := f.rcv.Stop(8 * time.Second)
	close(stopped)
	wg.Wait()
	if code != 0 {
		t.Errorf("after SIGTERM the receiver exited %d, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("the receiver took %s to stop after SIGTERM, want a few seconds at most", took)
	}

	term := time.Unix(0, termAt.Load())
	var spanning, refused int
	for _, s := range all {
		switch {
		case s.res.err == nil && s.res.start.Before(term) && s.res.end.After(term):
			spanning++
		case s.res.err != nil && s.res.wrote:
			t.Errorf("%s: PUT offset %d, %d bytes, sent %s before SIGTERM, lost its connection after the receiver had it: %v (seed %d)",
				s.host, s.o, s.n, term.Sub(s.res.start).Round(time.Millisecond), s.res.err, seed)
		case s.res.err != nil:
			refused++
			if !isRefused(s.res.err) {
				t.Logf("%s: request never sent: %v", s.host, s.res.err)
			}
		}
	}
	if spanning == 0 {
		t.Errorf("no request was in flight at SIGTERM; the test did not test anything (seed %d)", seed)
	}

	// Every byte answered 201 is there after a restart, and nothing else.
	f.rcv.Start()
	for _, h := range hostNames {
		data := content{seed: seed, name: h + "/app.log"}
		L, r := f.admin.head(h, "app.log")
		if r.err != nil {
			t.Errorf("%s: HEAD after restart: %v", h, r.err)
			continue
		}
		if L < acked[h] || L > upper[h] {
			t.Errorf("%s: after the restart the stream holds %d bytes, outside [acknowledged %d, sent %d] (seed %d)", h, L, acked[h], upper[h], seed)
		}
		got, err := f.admin.readAll(h, "app.log", L)
		if err != nil {
			t.Errorf("%s: read after restart: %v", h, err)
			continue
		}
		if d := data.firstDiff(0, got); d != "" {
			t.Errorf("%s: after the restart the stream is not what the host sent: %s (seed %d)", h, d, seed)
		}
	}
	code, took2 := f.rcv.Stop(8 * time.Second)
	if code != 0 {
		t.Errorf("the restarted receiver exited %d after SIGTERM, want 0", code)
	}
	// One connection per request, every stop graceful: the index has a line
	// for exactly the requests that were answered.
	ix := readIndex(t, f.rcv.dataDir, false)
	checkLedger(t, f.led.snapshot(), ix, true)
	t.Logf("%d request(s) in flight at SIGTERM were answered; exit in %s (restarted receiver: %s); %d PUTs in all, %d refused after the stop; index %d lines",
		spanning, took.Round(time.Millisecond), took2.Round(time.Millisecond), len(all), refused, ix.lines)
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

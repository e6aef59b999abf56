package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shipper appends one stream in a loop, the way a lab host does, and keeps
// what the receiver has promised about it.
type shipper struct {
	t      *testing.T
	seed   int64
	host   string
	stream string
	c      *client // the host's own credentials
	admin  *client
	data   content
	rng    *rand.Rand
	bulk   bool // plain appends of nearly 8 MiB (max_body)
	// late: a request this host gave up on may still be stored later (a
	// receiver SIGSTOPped with it, then continued), so the stream may be
	// longer than the host knows.
	late bool

	acked atomic.Int64 // every byte below was acknowledged (201/200)
	upper atomic.Int64 // the receiver can hold at most this many bytes
	known int64        // the length the receiver last reported

	// counters, read after the run
	created, dups, conflicts, sendErrs, resyncs, tailChecks, busy, grown int
	kept, dropped                                                        int // resyncs that found unacknowledged bytes kept, sent bytes not kept
}

func newShipper(t *testing.T, seed int64, idx int, host, stream string, c, admin *client) *shipper {
	return &shipper{t: t, seed: seed, host: host, stream: stream, c: c, admin: admin,
		data: content{seed: seed, name: host + "/" + stream},
		rng:  rand.New(rand.NewPCG(uint64(seed), uint64(idx)+100))}
}

func (s *shipper) name() string { return s.host + "/" + s.stream }

func (s *shipper) failf(format string, a ...any) {
	s.t.Helper()
	s.t.Errorf("%s: %s (seed %d)", s.name(), fmt.Sprintf(format, a...), s.seed)
}

// Kinds of send.
const (
	sendAppend   = iota // offset == known length
	sendOverlap         // resend from below the length: 200 or a 201 for the new tail
	sendGap             // offset beyond the length: 409
	sendMismatch        // differing bytes over stored ones: 409
)

// run ships until stop ends; resyncs keep trying until hard ends.
func (s *shipper) run(stop, hard context.Context, failed func()) {
	s.resync(hard)
	for stop.Err() == nil && hard.Err() == nil {
		if !s.step() {
			if s.t.Failed() {
				failed()
				return
			}
			s.resync(hard)
		}
	}
}

// step sends one PUT and returns false when the shipper must resync.
func (s *shipper) step() bool {
	kind := sendAppend
	switch p := s.rng.IntN(100); {
	case s.bulk:
	case p < 6 && s.known > 0:
		kind = sendOverlap
	case p < 9:
		kind = sendGap
	case p < 12 && s.known > 0:
		kind = sendMismatch
	}
	// Chunks of 1 B to 64 KiB: half log-uniform (many tiny ones), half
	// uniform (the bulk of the bytes).
	n := logSize(s.rng, 64<<10)
	if s.rng.IntN(2) == 0 {
		n = 1 + s.rng.Int64N(64<<10)
	}
	if s.bulk {
		n = 8<<20 - s.rng.Int64N(64<<10)
	}
	o := s.known
	switch kind {
	case sendOverlap:
		o = s.known - 1 - s.rng.Int64N(min(s.known, 128<<10))
	case sendGap:
		o = s.known + 1 + s.rng.Int64N(4096)
	case sendMismatch:
		o = s.known - 1 - s.rng.Int64N(min(s.known, 64<<10))
	}
	body := s.data.at(o, n)
	if kind == sendMismatch {
		// Corrupt a byte the receiver already holds.
		i := s.rng.Int64N(min(n, s.known-o))
		body[i] ^= byte(1 + s.rng.IntN(255))
	} else if (kind != sendGap || s.late) && o+n > s.upper.Load() {
		// Before sending: the receiver may keep it (a "gap" too, when a
		// late request has filled the gap).
		s.upper.Store(o + n)
	}
	r := s.c.do(http.MethodPut, s.host, s.stream, fmt.Sprintf("offset=%d", o), bytes.NewReader(body), n)
	if r.err != nil {
		s.sendErrs++
		return false
	}
	L, hasLen := r.length()
	what := fmt.Sprintf("PUT offset %d, %d bytes (%s, known length %d)", o, n, kindName(kind), s.known)
	if s.late && hasLen && L > s.known && !(r.status == http.StatusCreated && L == o+n && kind != sendGap) &&
		(kind != sendMismatch || r.status == http.StatusConflict) {
		// The stream grew behind the host's back: the answer is judged
		// against a length it no longer has. The bytes are the host's own
		// (resync and verify check them); start again from the new length.
		s.grown++
		return false
	}
	switch r.status {
	case http.StatusCreated:
		switch {
		case kind == sendGap || kind == sendMismatch:
			s.failf("%s answered 201 (length %d): the receiver accepted bytes it must refuse", what, L)
		case !hasLen || L != o+n:
			s.failf("%s answered 201 with length %d (%s), want %d", what, L, r.body, o+n)
		case o+n <= s.known:
			s.failf("%s answered 201 for bytes it already holds; want 200", what)
		default:
			s.created++
			s.ack(L)
			return true
		}
		return false
	case http.StatusOK:
		switch {
		case kind != sendOverlap || o+n > s.known:
			s.failf("%s answered 200 (%s), but it was not a retry of stored bytes", what, r.body)
		case !hasLen || L != s.known:
			s.failf("%s answered 200 with length %d (%s), want the unchanged %d", what, L, r.body, s.known)
		default:
			s.dups++
			s.ack(o + n)
			return true
		}
		return false
	case http.StatusConflict:
		switch {
		case !hasLen:
			s.failf("%s answered 409 without a length: %s", what, r.body)
		case kind == sendAppend || kind == sendOverlap:
			// Only a lost byte could make the receiver's length differ.
			s.failf("%s answered 409 with length %d: %s", what, L, r.body)
		case L != s.known:
			s.failf("%s answered 409 with length %d, want the unchanged %d", what, L, s.known)
		default:
			s.conflicts++
			return true
		}
		return false
	case http.StatusServiceUnavailable:
		// The receiver may refuse while it comes up or when the body budget
		// is spent; a host retries.
		s.busy++
		return false
	}
	s.failf("%s answered %d: %s", what, r.status, r.body)
	return false
}

func kindName(k int) string {
	return [...]string{"append", "overlap", "gap", "mismatch"}[k]
}

func (s *shipper) ack(end int64) {
	if end > s.acked.Load() {
		s.acked.Store(end)
	}
	s.known = max(s.known, end)
}

// resync asks the receiver (HEAD, with the host's own credentials) for the
// stream's length until it answers, checks it against what was
// acknowledged and sent, checks the stream's tail, and continues from it.
func (s *shipper) resync(hard context.Context) {
	s.resyncs++
	for hard.Err() == nil {
		L, r := s.c.head(s.host, s.stream)
		if r.err != nil || r.status == http.StatusServiceUnavailable {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		acked, upper := s.acked.Load(), s.upper.Load()
		if L < acked {
			s.failf("after a restart the receiver holds %d bytes but %d were acknowledged: %d acknowledged bytes lost", L, acked, acked-L)
		}
		if L > upper {
			s.failf("the receiver holds %d bytes but the host sent at most %d: bytes the host never sent", L, upper)
		}
		if L > acked {
			s.kept++
		}
		if L < upper {
			s.dropped++
		}
		s.known = L
		s.checkTail(L)
		return
	}
}

// checkTail compares the last 16 KiB below length with the content; a
// transport failure (the receiver was killed again) skips it.
func (s *shipper) checkTail(length int64) {
	if length == 0 {
		return
	}
	off := max(0, length-16<<10)
	got, err := s.admin.read(s.host, s.stream, off, length-off)
	if err != nil {
		return
	}
	s.tailChecks++
	if int64(len(got)) != length-off {
		s.failf("GET offset %d limit %d returned %d bytes below a length of %d", off, length-off, len(got), length)
		return
	}
	if d := s.data.firstDiff(off, got); d != "" {
		s.failf("the stream's tail below length %d is not what the host sent: %s", length, d)
	}
}

// verify reads the whole stream with admin credentials and compares it with
// the content the host generated.
func (s *shipper) verify() int64 {
	s.t.Helper()
	L, r := s.admin.head(s.host, s.stream)
	if r.err != nil {
		s.failf("final HEAD: %v", r.err)
		return 0
	}
	acked, upper := s.acked.Load(), s.upper.Load()
	if L < acked || L > upper {
		s.failf("final length %d is outside [acknowledged %d, sent %d]", L, acked, upper)
	}
	got, err := s.admin.readAll(s.host, s.stream, L)
	if err != nil {
		s.failf("final read: %v", err)
		return L
	}
	if d := s.data.firstDiff(0, got); d != "" {
		s.failf("the stream (length %d) is not the bytes the host sent: %s", L, d)
	}
	return L
}

func TestKill9KeepsAcknowledgedBytes(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	const kills = 22

	hostNames := []string{"it-k0", "it-k1", "it-k2", "it-k3", "it-k4", "it-k5"}
	f := newFleet(t, append(hostNames, "it-fill"), true)
	var ships []*shipper
	for i, h := range hostNames {
		streams := []string{"app.log"}
		if i == len(hostNames)-1 {
			streams = []string{"app.log", "audit.log"} // one host, two streams at once
		}
		for _, st := range streams {
			ships = append(ships, newShipper(t, seed, len(ships), h, st, f.hosts[h], f.admin))
		}
	}

	began := time.Now()
	f.rcv.Start()
	stop, stopShipping := context.WithCancel(context.Background())
	hard, hardStop := context.WithTimeout(context.Background(), 50*time.Second)
	defer hardStop()
	defer stopShipping()

	// A bulk stream first brings the store's active segment (64 MiB) close
	// to full, so that the run below rotates to a new one among the kills.
	fill := newShipper(t, seed, 99, "it-fill", "bulk.log", f.hosts["it-fill"], f.admin)
	fill.bulk = true
	for fill.acked.Load() < 50<<20 && hard.Err() == nil && !t.Failed() {
		if !fill.step() {
			fill.resync(hard)
		}
	}
	var wg sync.WaitGroup
	for _, s := range ships {
		wg.Go(func() { s.run(stop, hard, hardStop) })
	}
	defer wg.Wait()

	var restarts []time.Duration
	for k := 0; k < kills && !t.Failed(); k++ {
		ready := time.Now()
		// Cheap check right after every restart: lengths within bounds and
		// the tail of every stream is what its host sent.
		checkStreams(t, ships)
		time.Sleep(time.Until(ready.Add(time.Duration(50+rng.IntN(351)) * time.Millisecond)))
		f.rcv.Kill()
		// Between kill and restart: every index line parses (only a torn
		// last line may not), and every request answered so far has its
		// line, since a line is durable before its answer.
		checkLedger(t, f.led.snapshot(), readIndex(t, f.rcv.dataDir, true), false)
		restarts = append(restarts, f.rcv.Start())
	}
	checkStreams(t, ships)
	time.Sleep(300 * time.Millisecond)
	stopShipping()
	wg.Wait()
	if hard.Err() != nil && !t.Failed() {
		t.Fatalf("the shippers did not finish in time (seed %d)", seed)
	}

	var total int64
	ships = append(ships, fill)
	hostNames = append(hostNames, fill.host)
	for _, s := range ships {
		total += s.verify()
		if s.created == 0 && !t.Failed() {
			s.failf("no append was ever acknowledged")
		}
	}
	for _, h := range hostNames {
		r := f.admin.do(http.MethodGet, h, "", "", nil, 0)
		var want []string
		for _, s := range ships {
			if s.host == h {
				want = append(want, `"stream":"`+s.stream+`"`)
			}
		}
		if r.err != nil || r.status != http.StatusOK || strings.Count(string(r.body), `"stream":`) != len(want) {
			t.Errorf("GET /v1/logs/%s: %v %d %s; want exactly the streams %v", h, r.err, r.status, r.body, want)
			continue
		}
		for _, w := range want {
			if !strings.Contains(string(r.body), w) {
				t.Errorf("GET /v1/logs/%s: %s lacks %s", h, r.body, w)
			}
		}
	}

	// Hosts keep their keep-alive connections open, as real shippers do.
	// net/http's Shutdown alone would wait up to 5 s for a connection that
	// was opened but never carried a request (golang/go#21204, #59037); the
	// receiver closes those once they have been silent for a second.
	code, took := f.rcv.Stop(15 * time.Second)
	if code != 0 {
		t.Errorf("after SIGTERM the receiver exited %d, want 0", code)
	}
	if took > 3*time.Second {
		t.Errorf("the receiver took %s to stop after SIGTERM", took)
	}
	ix := readIndex(t, f.rcv.dataDir, false)
	checkLedger(t, f.led.snapshot(), ix, false)

	sort.Slice(restarts, func(i, j int) bool { return restarts[i] < restarts[j] })
	t.Logf("%d SIGKILLs, every restart healthy (start to ready: median %s, max %s); clean stop in %s; run %s",
		len(restarts), restarts[len(restarts)/2].Round(time.Millisecond), restarts[len(restarts)-1].Round(time.Millisecond),
		took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	segs, _ := filepath.Glob(filepath.Join(f.rcv.dataDir, "logs", "seg-*.log"))
	log := readFrom(f.rcv.logPath, 0)
	t.Logf("%d streams hold %.1f MiB in %d segments; index: %d lines, every one parses; receiver log: %d torn segment tails cut, %d torn index lines cut, %d errors",
		len(ships), float64(total)/(1<<20), len(segs), ix.lines, strings.Count(log, "cut a torn tail"), strings.Count(log, "cut a torn last line"), strings.Count(log, "level=ERROR"))
	for _, s := range ships {
		t.Logf("  %-18s length %9d: %4d appends (201), %3d retries (200), %3d refusals (409), %2d busy (503), %3d send errors, %3d resyncs (%d kept unacknowledged bytes, %d dropped sent ones), %3d tail checks",
			s.name(), s.acked.Load(), s.created, s.dups, s.conflicts, s.busy, s.sendErrs, s.resyncs, s.kept, s.dropped, s.tailChecks)
	}
}

// checkStreams asks for every stream's length with admin credentials and
// checks it against what its host was promised and sent, and its tail.
func checkStreams(t *testing.T, ships []*shipper) {
	t.Helper()
	for _, s := range ships {
		acked := s.acked.Load()
		L, r := s.admin.head(s.host, s.stream)
		if r.err != nil {
			t.Errorf("%s: HEAD after restart: %v", s.name(), r.err)
			continue
		}
		upper := s.upper.Load()
		if L < acked || L > upper {
			s.failf("after a restart the length is %d, outside [acknowledged %d, sent %d]", L, acked, upper)
		}
		if L == 0 {
			continue
		}
		off := max(0, L-4096)
		got, err := s.admin.read(s.host, s.stream, off, L-off)
		if err != nil {
			t.Errorf("%s: GET tail after restart: %v", s.name(), err)
			continue
		}
		if d := s.data.firstDiff(off, got); d != "" {
			s.failf("after a restart the tail below %d is not what the host sent: %s", L, d)
		}
	}
}

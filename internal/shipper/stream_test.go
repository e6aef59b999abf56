package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// memReceiver keeps one stream in memory with the receiver's rules: a PUT
// must start at or before the length, bytes it overlaps must agree, and
// anything else is a 409 carrying the length. While down, every request
// fails as an unreachable receiver's would.
type memReceiver struct {
	mu       sync.Mutex
	down     bool
	data     []byte
	gen      string
	genStart int64
	losses   []wire.Loss // told by accepted PUTs
	// oldLost makes it refuse X-Cis490-Lost as unreadable (400 bad-lost).
	oldLost bool
}

func (m *memReceiver) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

func (m *memReceiver) held() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.data)
}

func (m *memReceiver) PutLogs(_ context.Context, _ string, off int64, gen transport.Gen, b []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, errors.New("connect: connection refused")
	}
	n := int64(len(m.data))
	if off > n || !bytes.Equal(m.data[off:min(n, off+int64(len(b)))], b[:min(n-off, int64(len(b)))]) {
		return 0, &transport.Error{Status: http.StatusConflict, Length: n, HasLength: true}
	}
	if gen.Lost != nil && m.oldLost {
		return 0, &transport.Error{Status: http.StatusBadRequest, Reason: wire.ReasonBadLost, Message: "X-Cis490-Lost is unreadable"}
	}
	if gen.Lost != nil {
		m.losses = append(m.losses, *gen.Lost)
	}
	if tail := b[min(n-off, int64(len(b))):]; len(tail) > 0 {
		m.data = append(m.data, tail...)
		m.gen, m.genStart = gen.ID, gen.Start
	}
	return int64(len(m.data)), nil
}

func (m *memReceiver) Head(context.Context, string) (transport.StreamState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return transport.StreamState{}, errors.New("connect: connection refused")
	}
	if len(m.data) == 0 {
		return transport.StreamState{}, nil
	}
	return transport.StreamState{Found: true, Length: int64(len(m.data)), Gen: m.gen, GenStart: m.genStart}, nil
}

// genLines is generation g of a log: n lines, each naming its generation.
func genLines(g, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "g%d line %04d %s\n", g, i, strings.Repeat("x", 40))
	}
	return b.String()
}

// runStream runs a stream over path until stop is called, as one run of
// the shipper; stop returns once it has ended (as after a SIGKILL, nothing
// is saved on the way out).
func runStream(t *testing.T, path string, cps *Checkpoints, recv Sender) (stop func()) {
	t.Helper()
	return runStreamLogging(t, path, cps, recv, slog.New(slog.DiscardHandler))
}

// runStreamLogging is runStream logging to log.
func runStreamLogging(t *testing.T, path string, cps *Checkpoints, recv Sender, log *slog.Logger) (stop func()) {
	t.Helper()
	st := newStream(streamOptions{Name: "app.log", Path: path, MaxBytes: 64 << 10, MaxWait: time.Millisecond,
		Poll: 10 * time.Millisecond, Log: log}, cps, recv, newBudget(4<<20))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("stream: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// newStreamRig is a stream's file path app.log (not written yet), its
// checkpoints and a receiver in memory, in a fresh folder.
func newStreamRig(t *testing.T) (string, *Checkpoints, *memReceiver) {
	t.Helper()
	dir := t.TempDir()
	cps, err := OpenCheckpoints(filepath.Join(dir, "cp"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "app.log"), cps, &memReceiver{}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

func identifyPath(t *testing.T, p string) Ident {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, err := Identify(f)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestKilledBeforeANewGenerationsFirstAck: the checkpoint saved when a new
// generation begins, before any of its bytes is acknowledged, must put the
// stream where the receiver stands. It once kept the previous generation's
// acknowledged count: a shipper killed then (the receiver down, so the
// first PUT could not be answered) resumed that far into the new
// generation, and when the new generation was shorter than that it was
// skipped whole, the next one stored in its place (the SIGKILL integration
// test's "one whole generation missing").
func TestKilledBeforeANewGenerationsFirstAck(t *testing.T) {
	p, cps, recv := newStreamRig(t)
	gen0, gen1, gen2 := genLines(0, 60), genLines(1, 25), genLines(2, 10) // gen1 is shorter than gen0
	appendTo(t, p, gen0)
	stop := runStream(t, p, cps, recv)
	waitUntil(t, "the receiver holds generation 0", func() bool { return string(recv.held()) == gen0 })

	// The receiver goes down; the file is rotated and generation 1 begins.
	recv.setDown(true)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, p, gen1)
	id1 := identifyPath(t, p)
	var cp Checkpoint
	waitUntil(t, "the checkpoint names generation 1", func() bool {
		var err error
		cp, err = cps.Load("app.log")
		return err == nil && cp.Gen == id1
	})
	stop() // SIGKILL: generation 1's first PUT was never answered
	if cp.GenStart != int64(len(gen0)) || cp.Length() != int64(len(gen0)) {
		t.Errorf("checkpoint of the new generation: generation_start %d, acked %d (length %d); the receiver holds %d bytes, none of generation 1",
			cp.GenStart, cp.Acked, cp.Length(), len(gen0))
	}

	// Rotated again while the shipper was down; then both come back.
	if err := os.Rename(p+".1", p+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, p, gen2)
	recv.setDown(false)
	runStream(t, p, cps, recv)
	waitHolds(t, recv, gen0+gen1+gen2)
}

// TestCheckpointBeyondItsFile: a checkpoint that counts more bytes of its
// generation acknowledged than the file holds (as an earlier release could
// save just before a new generation's first PUT) is not trusted: the
// receiver says where the stream stands, and no generation is skipped.
func TestCheckpointBeyondItsFile(t *testing.T) {
	p, cps, recv := newStreamRig(t)
	gen0, gen1, gen2 := genLines(0, 60), genLines(1, 25), genLines(2, 10)
	appendTo(t, p, gen0)
	stop := runStream(t, p, cps, recv)
	waitUntil(t, "the receiver holds generation 0", func() bool { return string(recv.held()) == gen0 })
	stop()

	os.Rename(p, p+".1")
	appendTo(t, p, gen1)
	// What the earlier release saved: generation 1 with generation 0's count.
	bad := Checkpoint{Stream: "app.log", Path: p, Gen: identifyPath(t, p), GenStart: int64(len(gen0)), Acked: int64(len(gen0)), Seen: int64(len(gen1))}
	if err := cps.Save(bad); err != nil {
		t.Fatal(err)
	}
	os.Rename(p+".1", p+".2")
	os.Rename(p, p+".1")
	appendTo(t, p, gen2)

	runStream(t, p, cps, recv)
	waitHolds(t, recv, gen0+gen1+gen2)
}

// waitHolds waits up to 10 s for the receiver to hold exactly want.
func waitHolds(t *testing.T, recv *memReceiver, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = string(recv.held()); got == want || len(got) > len(want) {
			break
		}
	}
	if got != want {
		t.Fatalf("the receiver holds %d bytes, want %d: %s", len(got), len(want), firstDiff(got, want))
	}
}

// firstDiff says where got and want part.
func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := func(s string) string {
		if i >= len(s) {
			return "(end)"
		}
		return fmt.Sprintf("%q", s[i:min(len(s), i+24)])
	}
	return fmt.Sprintf("they agree on %d bytes; then got %s, want %s", i, line(got), line(want))
}

// lockedBuffer is a log destination safe for the stream's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSaysWhatItShips: a source that does not exist is said to be missing
// (a typo in the config must not look like a quiet log), and once it
// appears the stream says it ships it, and does.
func TestSaysWhatItShips(t *testing.T) {
	p, cps, recv := newStreamRig(t)
	var logs lockedBuffer
	runStreamLogging(t, p, cps, recv, slog.New(slog.NewTextHandler(&logs, nil)))
	waitUntil(t, "the missing source is named", func() bool {
		return strings.Contains(logs.String(), `level=WARN msg="the source does not exist (yet)`) && strings.Contains(logs.String(), "path="+p)
	})
	if strings.Contains(logs.String(), `msg=shipping`) {
		t.Fatalf("a missing source was said to ship:\n%s", logs.String())
	}
	os.WriteFile(p, []byte(genLines(1, 3)), 0o644)
	waitUntil(t, "the source ships once it appears", func() bool { return string(recv.held()) == genLines(1, 3) })
	if !strings.Contains(logs.String(), `msg=shipping path=`+p+` from_offset=0`) {
		t.Fatalf("the stream did not say it ships the source that appeared:\n%s", logs.String())
	}
}

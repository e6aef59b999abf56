package shipper

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/transport"
)

// countingSender is the real client, counting the requests a stream makes.
type countingSender struct {
	*transport.Client
	heads, puts atomic.Int64
}

func (c *countingSender) Head(ctx context.Context, stream string) (transport.StreamState, error) {
	c.heads.Add(1)
	return c.Client.Head(ctx, stream)
}

func (c *countingSender) PutLogs(ctx context.Context, stream string, off int64, gen transport.Gen, data []byte) (int64, error) {
	c.puts.Add(1)
	return c.Client.PutLogs(ctx, stream, off, gen, data)
}

// noticeRig is a new host's stream (no checkpoint: it asks HEAD first)
// shipping syslog to a real receiver through the real client, with its
// log captured as journalctl would show it.
type noticeRig struct {
	t    *testing.T
	r    *receivertest.Receiver
	h    *host
	send *countingSender
	path string
	logs *lockedBuffer
	cps  *Checkpoints
}

func newNoticeRig(t *testing.T) *noticeRig {
	r := receivertest.Start(t, nil)
	h := newHost(t, r, "lab-1")
	cps, err := OpenCheckpoints(filepath.Join(h.cfg.StateDir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	return &noticeRig{t: t, r: r, h: h, send: &countingSender{Client: h.client},
		path: filepath.Join(t.TempDir(), "syslog"), logs: &lockedBuffer{}, cps: cps}
}

// run runs the stream with short waits: refusals 300 ms (plus jitter),
// other failures from 100 ms doubling up to max.
func (n *noticeRig) run(max time.Duration) (stop func()) {
	st := newStream(streamOptions{Name: "syslog", Path: n.path, MaxBytes: 64 << 10, MaxWait: 10 * time.Millisecond,
		Poll: 20 * time.Millisecond, Retry: retryPolicy{Min: 100 * time.Millisecond, Max: max, Refused: 300 * time.Millisecond},
		Log: slog.New(slog.NewTextHandler(n.logs, nil)).With("stream", "syslog")}, n.cps, n.send, newBudget(4<<20))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.run(ctx) }()
	stop = func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	n.t.Cleanup(stop)
	return stop
}

// count is how many log lines hold every one of parts.
func (n *noticeRig) count(parts ...string) int {
	c := 0
	for _, l := range strings.Split(n.logs.String(), "\n") {
		all := l != ""
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			c++
		}
	}
	return c
}

func (n *noticeRig) waitLog(parts ...string) {
	n.t.Helper()
	waitUntil(n.t, "the log says "+strings.Join(parts, " … "), func() bool { return n.count(parts...) > 0 })
}

func (n *noticeRig) holds(want []byte) {
	n.t.Helper()
	waitFor(n.t, n.r.IssueAdmin("alice"), n.r, "lab-1", "syslog", want)
}

// TestRefusedHeadSaysWhyOnce: a new host whose token the receiver refuses
// (revoked, mistyped) asks HEAD first. Its log gives the receiver's own
// sentence once, not once a retry, and it retries no sooner than the
// refusal wait; with the token put right it ships, and says so.
func TestRefusedHeadSaysWhyOnce(t *testing.T) {
	n := newNoticeRig(t)
	good, err := os.ReadFile(n.h.cfg.TLS.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.h.cfg.TLS.TokenFile, []byte("revoked-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := transport.New(transport.FromConfig(n.h.cfg)) // reads the token now
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	n.send.Client = cl
	data := bytes.Repeat([]byte("a line of syslog\n"), 100)
	os.WriteFile(n.path, data, 0o644)
	n.run(time.Second)
	time.Sleep(2 * time.Second)

	sentence := "the bearer token is not known to this receiver"
	if got := n.count(`msg="the receiver refused this host's credentials`, "reason=bad-token", sentence); got != 1 {
		t.Fatalf("the receiver's sentence is logged %d times in 2 s; want once:\n%s", got, n.logs)
	}
	if strings.Contains(n.logs.String(), "cannot start the stream yet") {
		t.Fatalf("a refusal logged as a failure to retry soon:\n%s", n.logs)
	}
	// 300 ms and up to a fifth more between tries: at most 7 in 2 s.
	if h := n.send.heads.Load(); h < 2 || h > 7 {
		t.Fatalf("%d HEADs in 2 s; want a retry every 300-360 ms", h)
	}

	os.WriteFile(n.h.cfg.TLS.TokenFile, good, 0o600)
	n.holds(data)
	n.waitLog(`msg="the receiver takes this host's logs again; 1.7 KiB waiting"`)
	if got := n.count(sentence); got != 1 {
		t.Fatalf("the sentence was logged %d times; want once:\n%s", got, n.logs)
	}
}

// TestUnreachableBacksOffAndRecovers: a receiver that refuses connections
// before a stream's first contact, and again mid-stream, is retried with a
// growing wait, logged once each time, and its return is said with what
// waits, then when that has been sent.
func TestUnreachableBacksOffAndRecovers(t *testing.T) {
	n := newNoticeRig(t)
	n.r.Stop()
	data := bytes.Repeat([]byte("a line of syslog, before the receiver is up\n"), 5000) // 215 KiB: several batches
	os.WriteFile(n.path, data, 0o644)
	n.run(2 * time.Second)
	time.Sleep(3 * time.Second)
	// From 100 ms doubling up to 2 s, with full jitter: a few tries in 3 s,
	// where a fixed wait of 100 ms would make 30.
	if h := n.send.heads.Load(); h < 2 || h > 15 {
		t.Fatalf("%d HEADs to a refused port in 3 s; want a growing wait", h)
	}
	if got := n.count(`msg="cannot start the stream yet; retrying with backoff"`, "connection refused"); got != 1 {
		t.Fatalf("connection refused logged %d times; want once:\n%s", got, n.logs)
	}

	n.r.Restart()
	n.holds(data)
	n.waitLog(`msg="receiver reachable again; 214.8 KiB waiting"`)
	n.waitLog(`msg="caught up, 214.8 KiB sent in`)

	// Down again mid-stream: PUTs fail, said once; the backlog is said
	// when it is back, and when it has been sent.
	n.r.Stop()
	more := bytes.Repeat([]byte("a line of syslog, while the receiver is down\n"), 5000)
	f, _ := os.OpenFile(n.path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(more)
	f.Close()
	n.waitLog(`msg="ship failed; retrying with backoff"`, "connection refused")
	time.Sleep(time.Second)
	n.r.Restart()
	n.holds(append(data, more...))
	n.waitLog(`msg="caught up, 219.7 KiB sent in`)
	if got := n.count(`msg="ship failed; retrying with backoff"`); got != 1 {
		t.Fatalf("the failed PUTs were logged %d times; want once:\n%s", got, n.logs)
	}
	if got := n.count(`msg="receiver reachable again; 219.7 KiB waiting"`); got != 1 {
		t.Fatalf("the return was not said with what waits:\n%s", n.logs)
	}
}

// TestSaysHowFarBehind: a stream that starts with a backlog (a new host,
// a restart after a while) says how much it has to send, and when it has
// sent it, so that catching up is not mistaken for data lost.
func TestSaysHowFarBehind(t *testing.T) {
	n := newNoticeRig(t)
	data := bytes.Repeat([]byte("a line of syslog written before the shipper ran\n"), 5000) // 234 KiB
	os.WriteFile(n.path, data, 0o644)
	stop := n.run(time.Second)
	n.holds(data)
	n.waitLog(`level=INFO msg="234.4 KiB to send (catching up)" stream=syslog bytes=240000`)
	n.waitLog(`level=INFO msg="caught up, 234.4 KiB sent in`)
	stop()

	// A restart with less than a batch waiting is no backlog: not said.
	small := append(data, "one more line\n"...)
	os.WriteFile(n.path, small, 0o644)
	n.logs = &lockedBuffer{}
	n.run(time.Second)
	n.holds(small)
	if strings.Contains(n.logs.String(), "catching up") || strings.Contains(n.logs.String(), "caught up") {
		t.Fatalf("a line waiting was called a backlog:\n%s", n.logs)
	}
}

// TestUnreadableSourceSaysTheFixOnce: a log this user may not read is named
// once, with the fix the doctor gives, and ships once it can be read.
func TestUnreadableSourceSaysTheFixOnce(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	n := newNoticeRig(t)
	data := []byte("a line only adm may read\n")
	os.WriteFile(n.path, data, 0o600)
	os.Chmod(n.path, 0)
	n.run(time.Second)
	n.waitLog(`msg="the shipper cannot read the source; it ships once it can"`, "path="+n.path, `err="permission denied"`,
		`fix="`+ReadableFix(currentUser())+`"`)
	time.Sleep(500 * time.Millisecond)
	if got := strings.Count(n.logs.String(), n.path); got != 1 {
		t.Fatalf("the path is named %d times; want once, in one line with the fix:\n%s", got, n.logs)
	}
	os.Chmod(n.path, 0o644)
	n.holds(data)
	n.waitLog("msg=shipping", "path="+n.path)
}

package shipper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/transport"
)

// host is a lab host shipping to a real receiver.
type host struct {
	t      *testing.T
	r      *receivertest.Receiver
	cfg    *config.LabHost
	client *transport.Client
	cancel context.CancelFunc
	done   chan error
	down   bool // what ShuttingDown answers
	sh     *Shipper
}

func newHost(t *testing.T, r *receivertest.Receiver, name string, sources ...config.Source) *host {
	t.Helper()
	creds := r.IssueHost(name, time.Now(), time.Hour)
	cfg := config.DefaultLabHost()
	cfg.Receiver, cfg.Host = r.URL, name
	cfg.StateDir = t.TempDir()
	cfg.TLS = config.HostTLS{Cert: creds.Cert, Key: creds.Key, CA: creds.CA, TokenFile: creds.Token}
	cfg.Batch = config.Batch{MaxBytes: 64 << 10, MaxWait: config.Duration(100 * time.Millisecond)}
	cfg.Sources = sources
	cl, err := transport.New(transport.FromConfig(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &host{t: t, r: r, cfg: &cfg, client: cl}
}

func (h *host) start() { h.startPolling(20 * time.Millisecond) }

// startPolling starts the shipper; poll 0 is the default (inotify, with a
// one-minute fallback poll).
func (h *host) startPolling(poll time.Duration) {
	h.t.Helper()
	sh, err := New(Options{Config: h.cfg, Client: h.client, Poll: poll, ShuttingDown: func() bool { return h.down }})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done, h.sh = cancel, make(chan error, 1), sh
	go func() { h.done <- sh.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *host) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("shipper: %v", err)
	}
	h.cancel = nil
}

// waitFor waits until the receiver holds want for the stream.
func waitFor(t *testing.T, admin receivertest.Creds, r *receivertest.Receiver, host, stream string, want []byte) {
	t.Helper()
	ac, err := transport.New(transport.Options{Receiver: r.URL, Host: admin.Name, CertFile: admin.Cert, KeyFile: admin.Key, CAFile: admin.CA, TokenFile: admin.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	deadline := time.Now().Add(10 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		resp, err := ac.Do(context.Background(), "GET", fmt.Sprintf("/v1/logs/%s/%s?offset=0&limit=8388608", host, stream), nil, nil)
		if err == nil && resp.Status == 200 {
			got = resp.Body
			if bytes.Equal(got, want) {
				return
			}
			if len(got) > len(want) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: stream %s/%s holds %d bytes:\n%q\nwant %d:\n%q", "waitFor", host, stream, len(got), tail(got), len(want), tail(want))
}

func tail(b []byte) []byte {
	if len(b) > 300 {
		return b[len(b)-300:]
	}
	return b
}

type logFile struct {
	t    *testing.T
	path string
	all  []byte // everything ever written, in order
	n    int
}

func (l *logFile) write(lines int) {
	l.t.Helper()
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	for range lines {
		s := fmt.Sprintf("%s line %06d %s\n", filepath.Base(l.path), l.n, bytes.Repeat([]byte("x"), l.n%50))
		l.n++
		f.WriteString(s)
		l.all = append(l.all, s...)
	}
}

func TestShipEndToEnd(t *testing.T) {
	r := receivertest.Start(t, nil)
	admin := r.IssueAdmin("alice")
	dir := t.TempDir()
	app := &logFile{t: t, path: filepath.Join(dir, "app.log")}
	sys := &logFile{t: t, path: filepath.Join(dir, "sys.log")}
	h := newHost(t, r, "lab-1", config.Source{Path: app.path}, config.Source{Path: sys.path, Stream: "syslog"})
	app.write(100)
	h.start()
	sys.write(10)
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	waitFor(t, admin, r, "lab-1", "syslog", sys.all)

	t.Log("step: Rotation by rename")
	// Rotation by rename, the writer reopening afterwards.
	os.Rename(app.path, app.path+".1")
	app.write(50)
	waitFor(t, admin, r, "lab-1", "app.log", app.all)

	t.Log("step: Rotation by copytruncate")
	// Rotation by copytruncate.
	b, _ := os.ReadFile(sys.path)
	os.WriteFile(sys.path+".1", b, 0o644)
	os.Truncate(sys.path, 0)
	sys.write(20)
	waitFor(t, admin, r, "lab-1", "syslog", sys.all)

	t.Log("step: Receiver down")
	// Receiver down for a while: the backlog arrives once it is back.
	r.Stop()
	app.write(300)
	time.Sleep(300 * time.Millisecond)
	r.Restart()
	waitFor(t, admin, r, "lab-1", "app.log", app.all)

	t.Log("step: Restart of the shipper")
	// Restart of the shipper: it resumes from its checkpoint, nothing twice.
	h.stop()
	app.write(20)
	h.start()
	waitFor(t, admin, r, "lab-1", "app.log", app.all)

	t.Log("step: Lost checkpoint")
	// Lost checkpoint: the receiver's HEAD says where to resume.
	h.stop()
	os.RemoveAll(filepath.Join(h.cfg.StateDir, "checkpoints"))
	app.write(20)
	sys.write(5)
	h.start()
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	waitFor(t, admin, r, "lab-1", "syslog", sys.all)

	t.Log("step: Corrupted checkpoint")
	// Corrupted checkpoints (a torn write, a full disk): HEAD again, and
	// the receiver already holds part of the current generation.
	h.stop()
	cps, _ := filepath.Glob(filepath.Join(h.cfg.StateDir, "checkpoints", "*"))
	if len(cps) == 0 {
		t.Fatal("no checkpoint files to corrupt")
	}
	for _, p := range cps {
		os.WriteFile(p, []byte("{\"version\":1,\"stream\":\x00\x00garbage"), 0o600)
	}
	app.write(20)
	sys.write(5)
	h.start()
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	waitFor(t, admin, r, "lab-1", "syslog", sys.all)
}

// TestInotifyWakesTheShipper: with the default settings a new line ships
// within a second, long before the one-minute fallback poll.
func TestInotifyWakesTheShipper(t *testing.T) {
	r := receivertest.Start(t, nil)
	admin := r.IssueAdmin("alice")
	app := &logFile{t: t, path: filepath.Join(t.TempDir(), "app.log")}
	app.write(1)
	h := newHost(t, r, "lab-1", config.Source{Path: app.path})
	h.startPolling(0)
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	time.Sleep(200 * time.Millisecond) // idle: nothing polls
	if p := h.sh.streams[0].opt.Poll; p < 10*time.Second {
		t.Fatalf("with inotify the stream still polls every %v", p)
	}
	start := time.Now()
	app.write(1)
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a new line took %v to ship; inotify should wake the stream", took)
	}
}

// TestShutdownIsSaidOnlyOnShutdown: a service stop says nothing; a machine
// shutdown says "shutdown".
func TestShutdownIsSaidOnlyOnShutdown(t *testing.T) {
	r := receivertest.Start(t, nil)
	app := &logFile{t: t, path: filepath.Join(t.TempDir(), "app.log")}
	app.write(1)
	h := newHost(t, r, "lab-1", config.Source{Path: app.path})
	states := func() []string {
		var out []string
		for _, l := range r.Index() {
			if l.Endpoint == "heartbeat" {
				out = append(out, l.State)
			}
		}
		return out
	}
	h.start()
	time.Sleep(200 * time.Millisecond)
	h.stop() // systemctl restart: not a shutdown
	if got := states(); len(got) == 0 || got[len(got)-1] != "up" {
		t.Fatalf("after a service stop the heartbeats are %v; want no shutdown", got)
	}
	h.down = true
	h.start()
	time.Sleep(200 * time.Millisecond)
	h.stop()
	if got := states(); got[len(got)-1] != "shutdown" {
		t.Fatalf("after a machine shutdown the heartbeats are %v; want a final shutdown", got)
	}
}

// TestGlobSource: each file a glob matches is its own stream, files that
// appear later are picked up, and rotated copies never become streams.
func TestGlobSource(t *testing.T) {
	r := receivertest.Start(t, nil)
	admin := r.IssueAdmin("alice")
	dir := t.TempDir()
	a := &logFile{t: t, path: filepath.Join(dir, "a.log")}
	b := &logFile{t: t, path: filepath.Join(dir, "b.log")}
	a.write(5)
	b.write(3)
	os.WriteFile(filepath.Join(dir, "a.log.1"), []byte("an old rotated copy\n"), 0o644)
	h := newHost(t, r, "lab-1", config.Source{Path: filepath.Join(dir, "*.log*")})
	h.start()
	waitFor(t, admin, r, "lab-1", "a.log", a.all)
	waitFor(t, admin, r, "lab-1", "b.log", b.all)
	c := &logFile{t: t, path: filepath.Join(dir, "c.log")}
	c.write(2)
	waitFor(t, admin, r, "lab-1", "c.log", c.all)
	os.Rename(a.path, a.path+".2")
	a.write(4)
	waitFor(t, admin, r, "lab-1", "a.log", a.all)
	time.Sleep(2500 * time.Millisecond) // a rescan
	for _, l := range r.Index() {
		if l.Endpoint == "logs" && l.Method == "PUT" && l.Stream != "a.log" && l.Stream != "b.log" && l.Stream != "c.log" {
			t.Fatalf("a rotated copy became stream %q", l.Stream)
		}
	}
}

// TestSmallerReceiverLimit: a receiver whose body limit is below the
// host's batch size still gets everything: the shipper sends smaller.
func TestSmallerReceiverLimit(t *testing.T) {
	r := receivertest.Start(t, func(c *config.Receiver) { c.Limits.MaxBody = 1000 })
	admin := r.IssueAdmin("alice")
	app := &logFile{t: t, path: filepath.Join(t.TempDir(), "app.log")}
	app.write(200) // ~9 KiB, above the 1000-byte limit
	h := newHost(t, r, "lab-1", config.Source{Path: app.path})
	h.start()
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
}

// TestRenameShipsSoon: after a rename rotation the new file's lines ship
// within about a second, not at the one-minute fallback poll.
func TestRenameShipsSoon(t *testing.T) {
	r := receivertest.Start(t, nil)
	admin := r.IssueAdmin("alice")
	app := &logFile{t: t, path: filepath.Join(t.TempDir(), "app.log")}
	app.write(3)
	h := newHost(t, r, "lab-1", config.Source{Path: app.path})
	h.startPolling(0)
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	start := time.Now()
	os.Rename(app.path, app.path+".1")
	app.write(3)
	waitFor(t, admin, r, "lab-1", "app.log", app.all)
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("lines after a rename took %v to ship", took)
	}
}

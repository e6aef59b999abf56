package fleethealth

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
)

// hookServer records what notifiers post; it fails while down is set.
type hookServer struct {
	mu    sync.Mutex
	down  bool
	posts []*http.Request
	body  []string
	pings []string
	srv   *httptest.Server
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if r.Method == http.MethodGet {
			h.pings = append(h.pings, r.URL.Path)
			return
		}
		b, _ := io.ReadAll(r.Body)
		h.posts = append(h.posts, r)
		h.body = append(h.body, string(b))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) setDown(d bool) { h.mu.Lock(); h.down = d; h.mu.Unlock() }

// TestNotifiersRetryAndDeadman: each alert reaches every notifier in its
// format; a notifier that is down gets the alerts it missed on a later
// run, in order; the dead man's switch is pinged after each clean run.
func TestNotifiersRetryAndDeadman(t *testing.T) {
	hooks := newHookServer(t)
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.Notify = []config.Notifier{
		{Kind: "webhook", URL: hooks.srv.URL + "/hook"},
		{Kind: "ntfy", URL: hooks.srv.URL + "/ntfy"},
		{Kind: "slack", URL: hooks.srv.URL + "/slack"},
	}
	f.cfg.DeadmanURL = hooks.srv.URL + "/ping/abc"
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.add(healthy("lab-2", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)

	hooks.setDown(true)
	res := f.run(t0)
	if len(res.Alerts) != 2 || res.Failed != 6 {
		t.Fatalf("down: %d alerts, %d failed deliveries; want 2 and 6", len(res.Alerts), res.Failed)
	}
	if len(f.alerts()) != 2 {
		t.Fatal("the alert lines must be written whatever the notifiers do")
	}
	hooks.setDown(false)
	res = f.run(t0.Add(5 * time.Minute)) // nothing new, but the outbox is flushed
	if res.Failed != 0 || len(hooks.posts) != 6 {
		t.Fatalf("back up: %d failed, %d posts; want 0 and 6", res.Failed, len(hooks.posts))
	}
	var a Alert
	if err := json.Unmarshal([]byte(hooks.body[0]), &a); err != nil || a.Host != "lab-1" || a.Symptom != Silent || a.Bucket != "2026-11-26T10" {
		t.Fatalf("webhook body %q: %+v %v", hooks.body[0], a, err)
	}
	if hooks.posts[2].URL.Path != "/ntfy" || hooks.posts[2].Header.Get("Title") != "cis490: lab-1 silent" || !strings.HasPrefix(hooks.body[2], "quiet for 1h") {
		t.Fatalf("ntfy post %s %v %q", hooks.posts[2].URL.Path, hooks.posts[2].Header, hooks.body[2])
	}
	var slack map[string]string
	if json.Unmarshal([]byte(hooks.body[4]), &slack); !strings.HasPrefix(slack["text"], "cis490: lab-1 silent: quiet for 1h") {
		t.Fatalf("slack body %q", hooks.body[4])
	}
	if len(hooks.pings) != 1 || hooks.pings[0] != "/ping/abc" {
		t.Fatalf("dead man's switch pings %v; want one after the clean run (the first could not reach it)", hooks.pings)
	}
	f.run(t0.Add(10 * time.Minute))
	if len(hooks.posts) != 6 || len(hooks.pings) != 2 {
		t.Fatalf("a quiet run posted %d (want 6 in all) and pinged %d times (want 2)", len(hooks.posts), len(hooks.pings))
	}
}

// TestSyslogLine: each alert is one WARNING message tagged
// cis490-fleet-health, read off a test syslog socket.
func TestSyslogLine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.Syslog = "unixgram:" + sock
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.run(t0)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// <28> = facility daemon (3) * 8 + warning (4).
	if !strings.HasPrefix(msg, "<28>") || !strings.Contains(msg, " cis490-fleet-health[") ||
		!strings.Contains(msg, "]: lab-1 silent: quiet for 1h01m, last seen 2026-11-26T08:59:00Z") {
		t.Fatalf("syslog message %q", msg)
	}
}

// TestNoSyslogIsNotAFailure: a syslog that cannot be reached is a logged
// warning; the run succeeds and the alert is in alerts.jsonl.
func TestNoSyslogIsNotAFailure(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	f.cfg.Syslog = "unixgram:" + filepath.Join(t.TempDir(), "nobody-listens")
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	if res := f.run(t0); len(res.Alerts) != 1 || len(f.alerts()) != 1 {
		t.Fatalf("without syslog: %d alerts, %d lines", len(res.Alerts), len(f.alerts()))
	}
}

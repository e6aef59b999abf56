package fleethealth

import (
	"context"
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
	var slack struct{ Text string }
	if err := json.Unmarshal([]byte(hooks.body[4]), &slack); err != nil || !strings.HasPrefix(slack.Text, "cis490: lab-1 silent: quiet for 1h") {
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

// syslogSocket points the fixture's syslog at a test socket; read returns
// the next message sent to it.
func (f *fixture) syslogSocket() (read func() string) {
	t := f.t
	sock := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f.cfg.Syslog = "unixgram:" + sock
	return func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 8192)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
}

// TestSyslogLine: each alert is one WARNING message tagged
// cis490-fleet-health, read off a test syslog socket.
func TestSyslogLine(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	readSyslog := f.syslogSocket()
	f.add(healthy("lab-1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))...)
	f.run(t0)
	msg := readSyslog()
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

// hostile is text a host controls (a doctor check's name, its summary, a
// commit) written to take over what an admin reads: Slack mentions and a
// relabelled link, a window title, a cleared screen, a C1 escape, a forged
// second line.
const hostile = "<!channel> <https://evil|click> <!here> <@U024BE7LH> & \x1b]0;pwned\x07 \x1b[2J \u009b2J \nlab-2 resolved: fine"

// noControl fails when s holds a byte a terminal or syslog would obey.
func noControl(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f {
			t.Fatalf("%s holds control character %U: %q", what, r, s)
		}
	}
}

// TestNotifiersShowHostTextSafely: whatever an alert's detail holds — also
// one that waited in the outbox from before the detector cleaned details —
// Slack gets no mention or link it did not write, ntfy no header it
// cannot carry, and none of them a control byte.
func TestNotifiersShowHostTextSafely(t *testing.T) {
	hooks := newHookServer(t)
	a := Alert{TS: t0, Host: "lab-1", Symptom: DoctorFailing, Detail: "its doctor report fails: " + hostile, Bucket: Bucket(t0)}
	tests := []struct {
		kind  string
		check func(t *testing.T, r *http.Request, body string)
	}{
		{"slack", func(t *testing.T, _ *http.Request, body string) {
			var msg struct {
				Text        string `json:"text"`
				UnfurlLinks *bool  `json:"unfurl_links"`
			}
			if err := json.Unmarshal([]byte(body), &msg); err != nil {
				t.Fatal(err)
			}
			for _, markup := range []string{"<!channel>", "<!here>", "<@U", "<https://", "<"} {
				if strings.Contains(msg.Text, markup) {
					t.Fatalf("Slack text holds %q unescaped: %q", markup, msg.Text)
				}
			}
			if !strings.Contains(msg.Text, "&lt;!channel&gt; &lt;https://evil|click&gt;") || !strings.Contains(msg.Text, " &amp; ") {
				t.Fatalf("Slack text does not show the host's text escaped: %q", msg.Text)
			}
			if msg.UnfurlLinks == nil || *msg.UnfurlLinks {
				t.Fatalf("Slack would unfurl a host's link: %s", body)
			}
			noControl(t, "the Slack text", msg.Text)
		}},
		{"ntfy", func(t *testing.T, r *http.Request, body string) {
			noControl(t, "the ntfy title", r.Header.Get("Title"))
			noControl(t, "the ntfy body", body)
			if r.Header.Get("Markdown") != "" || r.Header.Get("X-Markdown") != "" {
				t.Fatal("ntfy asked to render a host's text as Markdown")
			}
			if !strings.Contains(body, `^[]0;pwned^G ^[[2J \u009b2J ^Jlab-2`) {
				t.Fatalf("ntfy body does not show the escapes: %q", body)
			}
		}},
		{"webhook", func(t *testing.T, _ *http.Request, body string) {
			var got Alert
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			noControl(t, "the webhook's detail", got.Detail)
			if got.Host != "lab-1" || got.Symptom != DoctorFailing || !strings.Contains(got.Detail, "<!channel>") {
				t.Fatalf("webhook alert %+v: JSON needs no markup escaping, only control bytes shown", got)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if err := deliver(context.Background(), hooks.srv.Client(), Outgoing{URL: hooks.srv.URL + "/" + tt.kind, Kind: tt.kind, Alert: a}); err != nil {
				t.Fatal(err)
			}
			hooks.mu.Lock()
			r, body := hooks.posts[i], hooks.body[i]
			hooks.mu.Unlock()
			tt.check(t, r, body)
		})
	}
}

// TestHostTextInAlertsAndSyslog: a doctor report whose summary and check
// names hold escapes and newlines yields an alert line and a syslog
// message that are each one line, with the escapes shown, not obeyed.
func TestHostTextInAlertsAndSyslog(t *testing.T) {
	f := newFixture(t)
	f.cfg.ConfirmRuns = 1
	readSyslog := f.syslogSocket()
	report, _ := json.Marshal(map[string]any{"schema": 1, "ok": false, "summary": hostile,
		"checks": []map[string]string{{"name": hostile, "status": "fail"}}})
	f.add(upAll("lab-1", t0.Add(-40*time.Minute), t0)...)
	f.report("lab-1", t0.Add(-30*time.Minute), string(report))
	wantAlerts(t, "a hostile report", f.run(t0).Alerts, "lab-1 doctor-failing")

	detail := f.alerts()[0].Detail
	noControl(t, "the alert's detail", detail)
	if !strings.Contains(detail, `^[]0;pwned^G ^[[2J \u009b2J ^Jlab-2 resolved: fine`) {
		t.Fatalf("the alert's detail does not show the host's escapes: %q", detail)
	}
	msg := strings.TrimSuffix(readSyslog(), "\n")
	noControl(t, "the syslog message", msg)
	if !strings.Contains(msg, "]: lab-1 doctor-failing: its doctor report of ") {
		t.Fatalf("syslog message %q", msg)
	}
}

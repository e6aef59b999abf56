package transport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/wire"
)

const (
	oldCommit = "1111111111111111111111111111111111111111"
	newCommit = "2222222222222222222222222222222222222222"
)

func client(t *testing.T, r *receivertest.Receiver, c receivertest.Creds, commit string) *Client {
	t.Helper()
	cl, err := New(Options{Receiver: r.URL, Host: c.Name, CertFile: c.Cert, KeyFile: c.Key, CAFile: c.CA,
		TokenFile: c.Token, Commit: commit, Instance: "inst-" + c.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestRoundTrip(t *testing.T) {
	r := receivertest.Start(t, func(c *config.Receiver) {
		c.Gate.Releases = []config.Release{{Version: "1.0", Commit: oldCommit}, {Version: "2.0", Commit: newCommit}}
		c.Gate.Accept = 1
	})
	cl := client(t, r, r.IssueHost("lab-1", time.Now(), time.Hour), newCommit)
	ctx := context.Background()

	if st, err := cl.Head(ctx, "syslog"); err != nil || st.Found {
		t.Fatalf("HEAD of a new stream = %+v, %v; want not found", st, err)
	}
	n, err := cl.PutLogs(ctx, "syslog", 0, Gen{ID: "g1", Start: 0}, []byte("hello\n"))
	if err != nil || n != 6 {
		t.Fatalf("put = %d, %v", n, err)
	}
	if n, err := cl.PutLogs(ctx, "syslog", 0, Gen{ID: "g1"}, []byte("hello\n")); err != nil || n != 6 {
		t.Fatalf("retry = %d, %v; want the same length, nothing twice", n, err)
	}
	_, err = cl.PutLogs(ctx, "syslog", 99, Gen{ID: "g1"}, []byte("x"))
	var e *Error
	if !errors.As(err, &e) || e.Status != 409 || !e.HasLength || e.Length != 6 {
		t.Fatalf("gap = %v; want a 409 *Error with length 6", err)
	}
	st, err := cl.Head(ctx, "syslog")
	if err != nil || !st.Found || st.Length != 6 || st.Gen != "g1" || st.GenStart != 0 {
		t.Fatalf("HEAD = %+v, %v", st, err)
	}
	if err := cl.Heartbeat(ctx, wire.StateUp); err != nil {
		t.Fatal(err)
	}

	// A host running stale code is refused logs but still heartbeats.
	stale := client(t, r, r.IssueHost("lab-2", time.Now(), time.Hour), oldCommit)
	_, err = stale.PutLogs(ctx, "syslog", 0, Gen{}, []byte("x"))
	if !errors.As(err, &e) || e.Status != 426 || len(e.Accepted) != 1 || e.Accepted[0].Commit != newCommit {
		t.Fatalf("stale put = %v; want 426 naming the accepted release", err)
	}
	if err := stale.Heartbeat(ctx, wire.StateShutdown); err != nil {
		t.Fatalf("stale heartbeat = %v; heartbeats are never gated", err)
	}

	// Every request carried the stamp and the instance.
	for _, l := range r.Index() {
		if l.Instance != "inst-"+l.Host || (l.Host == "lab-1" && l.Commit != newCommit) || (l.Host == "lab-2" && l.Commit != oldCommit) {
			t.Errorf("index line %+v lacks the client's headers", l)
		}
	}
}

// TestRenewedCertificateIsUsedWithoutRestart: the files change on disk
// (cert-fetch renewed them) and the next request presents the new pair.
func TestRenewedCertificateIsUsedWithoutRestart(t *testing.T) {
	r := receivertest.Start(t, nil)
	old := r.IssueHost("lab-1", time.Now().Add(-48*time.Hour), time.Hour) // expired
	cl := client(t, r, old, "")
	ctx := context.Background()
	_, err := cl.PutLogs(ctx, "s", 0, Gen{}, []byte("x"))
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 || !strings.Contains(e.Message, "expired") {
		t.Fatalf("put with an expired certificate = %v; want 401 saying it expired", err)
	}
	fresh := r.IssueHost("lab-1", time.Now(), time.Hour)
	for _, f := range [][2]string{{fresh.Cert, old.Cert}, {fresh.Key, old.Key}, {fresh.Token, old.Token}} {
		b, _ := os.ReadFile(f[0])
		tmp := f[1] + ".new"
		os.WriteFile(tmp, b, 0o600)
		os.Rename(tmp, f[1])
	}
	time.Sleep(1100 * time.Millisecond) // files are checked at most once a second
	if n, err := cl.PutLogs(ctx, "s", 0, Gen{}, []byte("x")); err != nil || n != 1 {
		t.Fatalf("put after renewal = %d, %v; want the new certificate and token used", n, err)
	}
}

func TestNewNamesTheBadFile(t *testing.T) {
	r := receivertest.Start(t, nil)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name string
		mod  func(*Options)
		says string
	}{
		{"http URL", func(o *Options) { o.Receiver = "http://127.0.0.1:1" }, "https://"},
		{"missing CA", func(o *Options) { o.CAFile = "/nonexistent/ca.crt" }, "tls.ca"},
		{"CA not PEM", func(o *Options) { o.CAFile = c.Token }, "no PEM certificate"},
		{"key does not match", func(o *Options) { o.KeyFile = r.IssueHost("lab-2", time.Now(), time.Hour).Key }, "tls.cert"},
		{"missing token", func(o *Options) { o.TokenFile = "/nonexistent/token" }, "tls.token_file"},
		{"empty token", func(o *Options) { o.TokenFile = empty }, "empty"},
	}
	for _, tt := range tests {
		o := Options{Receiver: r.URL, Host: "lab-1", CertFile: c.Cert, KeyFile: c.Key, CAFile: c.CA, TokenFile: c.Token}
		tt.mod(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: New = %v; want an error saying %q", tt.name, err, tt.says)
		}
	}
}

func TestInstance(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("0123456789abcdef0123456789abcdef\n"), 0o444)
	os.WriteFile(b, []byte("fedcba9876543210fedcba9876543210\n"), 0o444)
	ia, ib := Instance(a), Instance(b)
	if len(ia) != 32 || ia == ib || Instance(a) != ia {
		t.Fatalf("instances %q, %q: want stable, distinct, 128-bit hex", ia, ib)
	}
	if strings.Contains(ia, "0123456789abcdef") {
		t.Fatal("the instance id reveals the machine id")
	}
	if got := Instance(filepath.Join(dir, "missing"), b); got != ib {
		t.Fatalf("fallback path not used: %q", got)
	}
	if got := Instance(filepath.Join(dir, "missing")); got != "unknown" {
		t.Fatalf("no machine id = %q, want unknown", got)
	}
}

// TestHeadRefusalSaysWhy: a HEAD answer has no body, so the receiver's
// reason and sentence come in headers, and the refusal reads as a PUT's
// does.
func TestHeadRefusalSaysWhy(t *testing.T) {
	r := receivertest.Start(t, nil)
	creds := r.IssueHost("lab-1", time.Now(), time.Hour)
	if err := os.WriteFile(creds.Token, []byte("not-a-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl := client(t, r, creds, newCommit)
	_, headErr := cl.Head(context.Background(), "syslog")
	_, putErr := cl.PutLogs(context.Background(), "syslog", 0, Gen{}, []byte("x"))
	var head, put *Error
	if !errors.As(headErr, &head) || !errors.As(putErr, &put) {
		t.Fatalf("HEAD = %v, PUT = %v; want two *Error", headErr, putErr)
	}
	if head.Status != 401 || head.Reason != wire.ReasonBadToken || head.Message == "" {
		t.Fatalf("HEAD refusal = %+v; want 401 %s with the receiver's sentence", head, wire.ReasonBadToken)
	}
	if head.Message != put.Message || head.Reason != put.Reason {
		t.Fatalf("HEAD says %q (%s), PUT says %q (%s); want the same", head.Message, head.Reason, put.Message, put.Reason)
	}
}

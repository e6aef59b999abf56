package cli

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

// startConfigured runs a receiver from a receiver.toml whose CA `ca init`
// made, on a loopback port, and returns its URL.
func startConfigured(t *testing.T, cfgPath string) string {
	t.Helper()
	cfg, err := config.LoadReceiver(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- receiverd.Run(ctx, cfg, ln, nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("receiver: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

// TestHostRemove: a removed host's certificate and token are refused at
// once, even over the keep-alive connection it already had, and the
// detector stops watching it.
func TestHostRemove(t *testing.T) {
	dir, cfg := withCA(t)
	bundle := filepath.Join(dir, "lab-1")
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", bundle); code != 0 {
		t.Fatal(errs)
	}
	url := startConfigured(t, cfg)
	c, err := transport.New(transport.Options{Receiver: url, Host: "lab-1", CertFile: filepath.Join(bundle, "host.crt"),
		KeyFile: filepath.Join(bundle, "host.key"), CAFile: filepath.Join(bundle, "ca.crt"), TokenFile: filepath.Join(bundle, "token")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Heartbeat(ctx, wire.StateUp); err != nil {
		t.Fatalf("before the removal: %v", err)
	}
	code, out, errs := run(t, "host", "remove", "lab-1", "--config", cfg)
	if code != 0 || !strings.Contains(out, "1 token(s) and 1 certificate(s) revoked") {
		t.Fatalf("host remove: exit %d %q %q", code, out, errs)
	}
	time.Sleep(300 * time.Millisecond) // the receiver rereads the list at most every 200 ms
	err = c.Heartbeat(ctx, wire.StateUp)
	var te *transport.Error
	if !errors.As(err, &te) || te.Status != 401 || !strings.Contains(te.Message, "revoked") {
		t.Fatalf("after the removal, over the same connection: %v; want 401 revoked", err)
	}
	removed, _ := fleethealth.RemovedFile(datadir.Dir(filepath.Join(dir, "data"))).Removed()
	if _, ok := removed["lab-1"]; !ok {
		t.Fatal("fleet-health still watches lab-1")
	}
	if code, _, _ := run(t, "host", "remove", "Not_A_Host", "--config", cfg); code != 2 {
		t.Fatalf("a bad name: exit %d, want 2", code)
	}
}

// TestAdminRevoke: `ca revoke --admin` ends an admin at once: its
// certificate and token are refused by the API; an unknown admin is an
// error, not a silent success.
func TestAdminRevoke(t *testing.T) {
	dir, cfg, url := fleetWithCA(t)
	bundle := filepath.Join(dir, "alice")
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--admin", "alice", "--out", bundle); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := run(t, "status", "--admin", bundle, "--receiver", url); code != 0 {
		t.Fatalf("status before: %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, "ca", "revoke", "--admin", "alice", "--config", cfg); code != 0 || !strings.Contains(out, "1 token(s) and 1 certificate(s)") {
		t.Fatalf("revoke: %d %q %q", code, out, errs)
	}
	time.Sleep(1100 * time.Millisecond) // the token file is re-read within 1 s
	if code, _, errs := run(t, "status", "--admin", bundle, "--receiver", url); code == 0 || !strings.Contains(errs, "revoked") {
		t.Fatalf("status after the revocation: %d %q", code, errs)
	}
	if code, _, errs := run(t, "ca", "revoke", "--admin", "bob", "--config", cfg); code != 1 || !strings.Contains(errs, "no admin") {
		t.Fatalf("revoking an unknown admin: %d %q", code, errs)
	}
}

// TestIssueAgainEndsTheOldBundle: issuing a host's bundle again (a lost
// or leaked one) revokes the earlier one at once, as enrolling again
// does, and says so; the new bundle works.
func TestIssueAgainEndsTheOldBundle(t *testing.T) {
	dir, cfg, url := fleetWithCA(t)
	client := func(bundle string) *transport.Client {
		c, err := transport.New(transport.Options{Receiver: url, Host: "lab-1", CertFile: filepath.Join(bundle, "host.crt"),
			KeyFile: filepath.Join(bundle, "host.key"), CAFile: filepath.Join(bundle, "ca.crt"), TokenFile: filepath.Join(bundle, "token")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ctx := context.Background()
	first, second := filepath.Join(dir, "lab-1-first"), filepath.Join(dir, "lab-1-second")
	if code, out, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", first); code != 0 || strings.Contains(out, "revoked") {
		t.Fatalf("first issue: %d %q %q", code, out, errs)
	}
	old := client(first)
	if err := old.Heartbeat(ctx, wire.StateUp); err != nil {
		t.Fatalf("the first bundle: %v", err)
	}
	if code, out, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", second); code != 0 || !strings.Contains(out, "lab-1's earlier bundle is revoked") {
		t.Fatalf("issuing again: %d %q %q", code, out, errs)
	}
	time.Sleep(1100 * time.Millisecond) // the token file is re-read within 1 s
	var te *transport.Error
	if err := old.Heartbeat(ctx, wire.StateUp); !errors.As(err, &te) || te.Status != 401 {
		t.Fatalf("the first bundle after issuing again: %v; want 401", err)
	}
	if err := client(second).Heartbeat(ctx, wire.StateUp); err != nil {
		t.Fatalf("the new bundle: %v", err)
	}
	// The old certificate is revoked too, not only the old token.
	mixed := filepath.Join(dir, "lab-1-mixed")
	os.MkdirAll(mixed, 0o700)
	for _, f := range []struct{ from, name string }{{first, "host.crt"}, {first, "host.key"}, {second, "token"}, {second, "ca.crt"}} {
		b, _ := os.ReadFile(filepath.Join(f.from, f.name))
		os.WriteFile(filepath.Join(mixed, f.name), b, 0o600)
	}
	if err := client(mixed).Heartbeat(ctx, wire.StateUp); !errors.As(err, &te) || te.Status != 401 || !strings.Contains(te.Message, "revoked") {
		t.Fatalf("the first bundle's certificate with the new token: %v; want 401 revoked", err)
	}
}

// TestHostRemoveSaysWhatHoldsTheTrustLock: `host remove` behind a busy
// trust lock says whom it waits on, waits (longer than a receiver's
// request would), and goes on once the lock is free.
func TestHostRemoveSaysWhatHoldsTheTrustLock(t *testing.T) {
	dir, cfg := withCA(t)
	lock := datadir.Dir(filepath.Join(dir, "data")).TrustLock()
	unlock, err := vfs.LockContext(t.Context(), lock, 0o640, `"cis490 ca issue --host lab-9" (pid 4242)`)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := run(t, "host", "remove", "lab-1", "--config", cfg)
		done <- result{code, out, errs}
	}()
	select {
	case r := <-done:
		t.Fatalf("host remove finished while the trust lock was held: %+v", r)
	case <-time.After(1500 * time.Millisecond):
	}
	unlock()
	select {
	case r := <-done:
		if r.code != 0 || !strings.Contains(r.out, "removed lab-1") {
			t.Fatalf("host remove after the lock came free: %+v", r)
		}
		if !strings.Contains(r.err, `waiting for the trust lock, held by "cis490 ca issue --host lab-9" (pid 4242)`) {
			t.Fatalf("host remove did not say what it waited on: %q", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("host remove still waits after the lock came free")
	}
}

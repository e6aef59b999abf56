package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/shipper"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// fleetWithCA sets up a receiver.toml with `ca init` and starts it.
func fleetWithCA(t *testing.T) (dir, cfg, url string) {
	t.Helper()
	dir, cfg = withCA(t)
	return dir, cfg, startConfigured(t, cfg)
}

// withCA writes a receiver.toml (data in dir/data) and makes its CA with
// `ca init`; no receiver runs.
func withCA(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte("data_dir = \"data\"\nserver_names = [\"127.0.0.1\"]\nlisten = \"127.0.0.1:0\"\n[limits]\nmin_free = 0\n"), 0o644)
	if code, _, errs := run(t, "ca", "init", "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	return dir, cfg
}

// bundleAt writes a host bundle whose certificate was issued at issued
// for lifetime, and its lab-host.toml; it returns the toml's path.
func bundleAt(t *testing.T, dir, url, host string, issued time.Time, lifetime time.Duration) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	ca, err := pki.Load(datadir.Dir(data).CA())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueHost(host, lifetime, issued)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.Files(datadir.Dir(data).Tokens()).Add(token.KindHost, host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, host)
	os.MkdirAll(b, 0o755)
	for name, d := range map[string][]byte{"host.crt": certPEM, "host.key": keyPEM, "ca.crt": ca.CertPEM(), "token": []byte(tok)} {
		os.WriteFile(filepath.Join(b, name), d, 0o600)
	}
	toml := filepath.Join(b, "lab-host.toml")
	os.WriteFile(toml, []byte("state_dir = \"state\"\n"+labHostTOML(url, host, "", hostLayout{})), 0o644)
	return toml
}

// TestCertFetch: nothing due says when; an expired certificate renews
// within the grace period and the host works again; past the grace
// period it says how to enroll again.
func TestCertFetch(t *testing.T) {
	dir, _, url := fleetWithCA(t)
	fresh := bundleAt(t, dir, url, "lab-1", time.Now(), 30*24*time.Hour)
	if code, out, errs := run(t, "cert-fetch", "--config", fresh); code != 0 || !strings.Contains(out, "renewal due at") {
		t.Fatalf("nothing due: exit %d %q %q", code, out, errs)
	}
	expired := bundleAt(t, dir, url, "lab-2", time.Now().Add(-3*time.Hour), time.Hour)
	// A copy of the expired pair, as an old backup or a discarded disk
	// would keep it.
	old := filepath.Join(dir, "lab-2-old")
	os.MkdirAll(old, 0o755)
	for _, f := range []string{"host.crt", "host.key", "ca.crt", "token", "lab-host.toml"} {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(expired), f))
		os.WriteFile(filepath.Join(old, f), b, 0o600)
	}
	if code, out, errs := run(t, "cert-fetch", "--config", expired); code != 0 || !strings.Contains(out, "renewed") {
		t.Fatalf("expired within the grace period: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, "cert-fetch", "--config", filepath.Join(old, "lab-host.toml")); code != 1 || !strings.Contains(errs, "not the newest issued to lab-2") {
		t.Fatalf("a superseded expired certificate renewing: exit %d %q", code, errs)
	}
	lab, _ := config.LoadLabHost(expired)
	c, _ := transport.New(transport.FromConfig(lab))
	defer c.Close()
	if err := c.Heartbeat(context.Background(), wire.StateUp); err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	gone := bundleAt(t, dir, url, "lab-3", time.Now().Add(-45*24*time.Hour), 24*time.Hour)
	if code, _, errs := run(t, "cert-fetch", "--config", gone); code != 1 || !strings.Contains(errs, "enroll this host again") {
		t.Fatalf("past the grace period: exit %d %q", code, errs)
	}
}

// TestRenewWhileShipping: certificates renewed again and again while the
// shipper ships: every byte arrives and no request fails.
func TestRenewWhileShipping(t *testing.T) {
	dir, _, url := fleetWithCA(t)
	toml := bundleAt(t, dir, url, "lab-4", time.Now(), 30*24*time.Hour)
	lab, err := config.LoadLabHost(toml)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "app.log")
	lab.Sources = []config.Source{{Path: src}}
	lab.Batch = config.Batch{MaxBytes: 64 << 10, MaxWait: config.Duration(20 * time.Millisecond)}
	client, _ := transport.New(transport.FromConfig(lab))
	defer client.Close()
	sh, err := shipper.New(shipper.Options{Config: lab, Client: client, Poll: 10 * time.Millisecond, ShuttingDown: func() bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	var want []byte
	f, _ := os.OpenFile(src, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	for i := range 60 {
		line := fmt.Sprintf("line %04d during renewals\n", i)
		f.WriteString(line)
		want = append(want, line...)
		if i%12 == 6 {
			if code, _, errs := run(t, "cert-fetch", "--config", toml, "--force"); code != 0 {
				t.Fatalf("renewal %d: %s", i/12, errs)
			}
		}
		time.Sleep(40 * time.Millisecond)
	}
	f.Close()
	deadline := time.Now().Add(10 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		st, err := client.Head(context.Background(), "app.log")
		if err == nil && st.Length == int64(len(want)) {
			got = st.Length
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if got != int64(len(want)) {
		t.Fatalf("the stream holds %d bytes, want %d", got, len(want))
	}
	var failed []string
	index.Dir{Path: datadir.Dir(filepath.Join(dir, "data")).Index()}.Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		if l.Host == "lab-4" && l.Status >= 400 && !(l.Method == "HEAD" && l.Status == 404) {
			failed = append(failed, fmt.Sprintf("%s %s %d %s", l.Method, l.Endpoint, l.Status, l.Reason))
		}
	})
	if len(failed) > 0 {
		t.Fatalf("requests failed during the renewals: %v", failed)
	}
}

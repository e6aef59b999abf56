package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// TestCABackupRestore: a receiver rebuilt from a `ca backup` on a fresh
// data_dir is one the fleet keeps talking to: hosts' credentials work,
// revoked ones stay revoked.
func TestCABackupRestore(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte("data_dir = \"data\"\nserver_names = [\"127.0.0.1\"]\nlisten = \"127.0.0.1:0\"\n[limits]\nmin_free = 0\n"), 0o644)
	run(t, "ca", "init", "--config", cfg)
	for _, h := range []string{"lab-1", "lab-2"} {
		if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", h, "--out", filepath.Join(dir, h)); code != 0 {
			t.Fatal(errs)
		}
	}
	if code, _, errs := run(t, "host", "remove", "lab-2", "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	backup := filepath.Join(dir, "trust.tar.gz")
	if code, out, errs := run(t, "ca", "backup", "--config", cfg, "--out", backup); code != 0 || !strings.Contains(out, "backed up 8 files") {
		t.Fatalf("ca backup: exit %d %q %q", code, out, errs)
	}
	if st, _ := os.Stat(backup); st.Mode().Perm() != 0o600 {
		t.Fatalf("the backup is mode %v; it holds the CA's key", st.Mode().Perm())
	}

	// The receiver's disk is lost: a fresh data_dir, restored.
	fresh := filepath.Join(t.TempDir(), "receiver.toml")
	os.WriteFile(fresh, []byte("data_dir = \"data\"\nserver_names = [\"127.0.0.1\"]\nlisten = \"127.0.0.1:0\"\n[limits]\nmin_free = 0\n"), 0o644)
	if code, out, errs := run(t, "ca", "restore", "--config", fresh, "--from", backup); code != 0 || !strings.Contains(out, "restored 8 files") {
		t.Fatalf("ca restore: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, "ca", "restore", "--config", fresh, "--from", backup); code != 1 || !strings.Contains(errs, "already has a CA") {
		t.Fatalf("a second restore: exit %d %q", code, errs)
	}
	// A data_dir holding only the CA's certificate (its key kept offline)
	// has a CA too: a restore would replace the fleet's trust root.
	certOnly := filepath.Join(t.TempDir(), "receiver.toml")
	os.WriteFile(certOnly, []byte("data_dir = \"data\"\nserver_names = [\"127.0.0.1\"]\n"), 0o644)
	os.MkdirAll(filepath.Join(filepath.Dir(certOnly), "data", "ca"), 0o700)
	os.WriteFile(filepath.Join(filepath.Dir(certOnly), "data", "ca", "ca.crt"), []byte("a fleet's CA"), 0o644)
	if code, _, errs := run(t, "ca", "restore", "--config", certOnly, "--from", backup); code != 1 || !strings.Contains(errs, "already has a CA") {
		t.Fatalf("a restore over a CA certificate without its key: exit %d %q", code, errs)
	}
	url := startConfigured(t, fresh)
	client := func(h string) *transport.Client {
		b := filepath.Join(dir, h)
		c, err := transport.New(transport.Options{Receiver: url, Host: h, CertFile: filepath.Join(b, "host.crt"), KeyFile: filepath.Join(b, "host.key"),
			CAFile: filepath.Join(b, "ca.crt"), TokenFile: filepath.Join(b, "token")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ctx := context.Background()
	if err := client("lab-1").Heartbeat(ctx, wire.StateUp); err != nil {
		t.Fatalf("lab-1 against the restored receiver: %v", err)
	}
	var te *transport.Error
	if err := client("lab-2").Heartbeat(ctx, wire.StateUp); !errors.As(err, &te) || te.Status != 401 {
		t.Fatalf("removed lab-2 against the restored receiver: %v; want 401", err)
	}
}

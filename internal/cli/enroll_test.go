package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestEnrollCommand: token create on the receiver, enroll on the host
// (token on standard input), and the host ships with what it got; the
// token cannot be used again, and a token naming another CA is refused
// before anything is sent.
func TestEnrollCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "receiver.toml")
	_, releasePub, _ := release.KeyGen()
	os.WriteFile(cfg, []byte("data_dir = \"data\"\nserver_names = [\"127.0.0.1\"]\nlisten = \"127.0.0.1:0\"\nrelease_key = \""+releasePub+"\"\n[limits]\nmin_free = 0\n"), 0o644)
	if code, _, errs := run(t, "ca", "init", "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	url := startConfigured(t, cfg)
	code, tok, errs := run(t, "token", "create", "--host", "lab-5", "--config", cfg)
	if code != 0 || !strings.HasPrefix(tok, "c490j_") || !strings.Contains(errs, "revoke with `cis490 token revoke") {
		t.Fatalf("token create: exit %d %q %q", code, tok, errs)
	}
	if code, _, errs := run(t, "enroll", "--receiver", url, "--host", "lab-5", strings.TrimSpace(tok)); code != 2 || !strings.Contains(errs, "never the command line") {
		t.Fatalf("a token on the command line: exit %d %q", code, errs)
	}
	hostDir := filepath.Join(dir, "etc")
	code, out, errs := runIn(t, tok, "enroll", "--receiver", url, "--host", "lab-5", "--dir", hostDir)
	if code != 0 || !strings.Contains(out, "enrolled lab-5") {
		t.Fatalf("enroll: exit %d %q %q", code, out, errs)
	}
	for name, mode := range map[string]os.FileMode{"host.key": 0o640, "token": 0o640, "host.crt": 0o644, "ca.crt": 0o644, "lab-host.toml": 0o644} {
		if st, err := os.Stat(filepath.Join(hostDir, name)); err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v; want %v", name, err, st.Mode().Perm(), mode)
		}
	}
	lab, err := config.LoadLabHost(filepath.Join(hostDir, "lab-host.toml"))
	if err != nil {
		t.Fatalf("the enrolled lab-host.toml: %v", err)
	}
	if lab.ReleaseKey != releasePub {
		t.Fatalf("the host pinned release key %q, not the receiver's %q", lab.ReleaseKey, releasePub)
	}
	c, err := transport.New(transport.FromConfig(lab))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Heartbeat(context.Background(), wire.StateUp); err != nil {
		t.Fatalf("the enrolled host's first heartbeat: %v", err)
	}
	if code, _, errs := runIn(t, tok, "enroll", "--receiver", url, "--host", "lab-5", "--dir", filepath.Join(dir, "again")); code != 1 || !strings.Contains(errs, "used up") {
		t.Fatalf("the token again: exit %d %q", code, errs)
	}
	other := "c490j_" + strings.Repeat("ab", 32) + "_" + strings.Repeat("x", 43)
	if code, _, errs := runIn(t, other, "enroll", "--receiver", url, "--host", "lab-6", "--dir", filepath.Join(dir, "x")); code != 1 || !strings.Contains(errs, "not the one the join token names") {
		t.Fatalf("a token pinning another CA: exit %d %q", code, errs)
	}
}

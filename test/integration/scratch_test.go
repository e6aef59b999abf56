package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadmeScratchFolder walks the README's "Try it in a scratch folder"
// steps for real, as an unprivileged first-time evaluator types them: no
// /etc, no /var: a receiver, a host from `ca issue` and one from
// `enroll`, each shipping a line from logs/ beside it, and `status` and
// `logs` showing both.
func TestReadmeScratchFolder(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	// As the README writes it, with the port free here and min_free off
	// (a test machine's disk may be nearly full).
	cfg := fmt.Sprintf("listen = \"127.0.0.1:%d\"\ndata_dir = \"data\"\nserver_names = [\"localhost\", \"127.0.0.1\"]\n\n[limits]\nmin_free = 0\n", port)
	if err := os.WriteFile(filepath.Join(dir, "receiver.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	runCLIIn(t, dir, nil, "ca", "init", "--config", "receiver.toml")
	out := runCLIIn(t, dir, nil, "ca", "issue", "--config", "receiver.toml", "--host", "lab-101")
	if !strings.Contains(out, "on this machine run: cis490 ship --config lab-101/lab-host.toml") {
		t.Fatalf("ca issue does not say how to use the bundle here:\n%s", out)
	}
	runCLIIn(t, dir, nil, "ca", "issue", "--config", "receiver.toml", "--admin", "alice")
	startCLIIn(t, dir, "receiver.log", "receiver", "--config", "receiver.toml")
	waitTLS(t, dir, fmt.Sprintf("127.0.0.1:%d", port), "localhost", 15*time.Second)

	tok := runCLIIn(t, dir, nil, "token", "create", "--host", "lab-102", "--config", "receiver.toml")
	out = runCLIIn(t, dir, []byte(tok), "enroll", "--receiver", fmt.Sprintf("https://localhost:%d", port), "--host", "lab-102", "--dir", "lab-102")
	if !strings.Contains(out, "on this machine run: cis490 ship --config lab-102/lab-host.toml") {
		t.Fatalf("enroll does not say how to use the folder here:\n%s", out)
	}

	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "logs", "app.log"), []byte("hello from the scratch folder\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"lab-101", "lab-102"} {
		startCLIIn(t, dir, h+".log", "ship", "--config", h+"/lab-host.toml")
	}
	eventually(t, 20*time.Second, func() string {
		for _, h := range []string{"lab-101", "lab-102"} {
			got, err := tryCLI(dir, nil, "logs", h, "app.log", "--admin", "admin-alice")
			if err != nil {
				return err.Error()
			}
			if got != "hello from the scratch folder\n" {
				return fmt.Sprintf("%s's app.log on the receiver holds %q", h, got)
			}
		}
		return ""
	})
	status := runCLIIn(t, dir, nil, "status", "--admin", "admin-alice")
	for _, h := range []string{"lab-101", "lab-102"} {
		if !strings.Contains(status, h) {
			t.Fatalf("status does not show %s:\n%s", h, status)
		}
		// The shipper's state stayed in the scratch folder.
		if _, err := os.Stat(filepath.Join(dir, h, "state")); err != nil {
			t.Fatalf("%s's state is not in the scratch folder: %v", h, err)
		}
	}
}

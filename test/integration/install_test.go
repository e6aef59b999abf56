package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installer runs a deploy/ installer and returns its output.
func installer(t *testing.T, stdin string, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{filepath.Join("..", "..", "deploy", script)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestInstallers: both installers run into a temporary root give the
// expected tree, a dry run changes nothing, a second run changes nothing,
// and the lab host enrolls with a join token on standard input.
func TestInstallers(t *testing.T) {
	// The receiver's side.
	rroot := t.TempDir()
	if out := installer(t, "", "install-receiver.sh", "--binary", binPath, "--root", rroot, "--dry-run"); !strings.Contains(out, "would: ") {
		t.Fatalf("a dry run:\n%s", out)
	}
	if ents, _ := os.ReadDir(rroot); len(ents) != 0 {
		t.Fatalf("a dry run wrote %d entries", len(ents))
	}
	installer(t, "", "install-receiver.sh", "--binary", binPath, "--root", rroot, "--server-name", "127.0.0.1")
	for _, p := range []string{"usr/local/bin/cis490", "etc/cis490/receiver.toml", "var/lib/cis490/ca/ca.key",
		"etc/systemd/system/cis490-receiver.service", "etc/systemd/system/timers.target.wants/cis490-fleet-health.timer",
		"etc/systemd/system/multi-user.target.wants/cis490-receiver.service"} {
		if _, err := os.Lstat(filepath.Join(rroot, p)); err != nil {
			t.Errorf("the receiver install lacks %s: %v", p, err)
		}
	}
	if out := installer(t, "", "install-receiver.sh", "--binary", binPath, "--root", rroot, "--server-name", "127.0.0.1"); !strings.Contains(out, "nothing to change") {
		t.Fatalf("a second receiver install:\n%s", out)
	}

	// A real receiver from that data, for the host to enroll with.
	f := newFleet(t, nil, false)
	rcv := f.rcv
	rcv.Start()
	tok := runCLI(t, "token", "create", "--host", "lab-9", "--config", rcv.cfgPath)

	hroot := t.TempDir()
	installer(t, tok, "install-lab-host.sh", "--binary", binPath, "--receiver", rcv.URL(), "--host", "lab-9", "--root", hroot, "--no-start")
	for _, p := range []string{"usr/local/bin/cis490", "var/lib/cis490/bin/current", "etc/cis490/host.crt", "etc/cis490/host.key",
		"etc/cis490/token", "etc/cis490/lab-host.toml", "usr/lib/systemd/system-sleep/cis490",
		"etc/systemd/system/multi-user.target.wants/cis490-shipper.service",
		"etc/systemd/system/timers.target.wants/cis490-doctor-check.timer",
		"etc/systemd/system/timers.target.wants/cis490-autoupdate.timer",
		"etc/systemd/system/timers.target.wants/cis490-cert-fetch.timer"} {
		if _, err := os.Lstat(filepath.Join(hroot, p)); err != nil {
			t.Errorf("the lab host install lacks %s: %v", p, err)
		}
	}
	if st, err := os.Stat(filepath.Join(hroot, "etc/cis490/host.key")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("host.key: %v %v", err, st.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(hroot, "usr/local/bin/cis490")); l != "/var/lib/cis490/bin/current/cis490" {
		t.Errorf("the packaged path points at %q, not through bin/current", l)
	}
	// An image's lab-host.toml is a lab host's, though it is not in /etc yet.
	if b, _ := os.ReadFile(filepath.Join(hroot, "etc/cis490/lab-host.toml")); strings.Contains(string(b), "state_dir") || !strings.Contains(string(b), `path = "/var/log/*.log"`) {
		t.Errorf("the installed lab-host.toml is not a lab host's:\n%s", b)
	}
	// Enrolled for real: the credentials work.
	out := runCLI(t, "doctor", "--config", filepath.Join(hroot, "etc/cis490/lab-host.toml"), "--json")
	if !strings.Contains(out, `"name": "receiver-auth",
      "status": "ok"`) {
		t.Errorf("the installed host's doctor:\n%s", out)
	}
	if out := installer(t, "", "install-lab-host.sh", "--binary", binPath, "--receiver", rcv.URL(), "--host", "lab-9", "--root", hroot, "--no-start"); !strings.Contains(out, "nothing to change") {
		t.Fatalf("a second lab host install:\n%s", out)
	}
}

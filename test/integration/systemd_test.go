package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nspawnRoot is a minimal Debian with systemd, made once per machine (it
// takes a minute or two) and reused: the container runs it with
// --volatile=overlay, so every boot starts from it untouched.
func nspawnRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(os.TempDir(), "cis490-nspawn-bookworm")
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return root
	}
	os.RemoveAll(root)
	var out bytes.Buffer
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus", "bookworm", root, "http://deb.debian.org/debian")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tailString(out.String(), 2000))
	}
	os.WriteFile(filepath.Join(root, ".complete"), nil, 0o644)
	return root
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// container is a booted systemd in systemd-nspawn.
type container struct {
	t    *testing.T
	cmd  *exec.Cmd
	cpid int
	log  bytes.Buffer
}

func bootContainer(t *testing.T, root, repo, bin string) *container {
	t.Helper()
	c := &container{t: t}
	c.cmd = exec.Command("systemd-nspawn", "-D", root, "--volatile=overlay", "-b", "--machine=cis490-test", "--register=no",
		"--keep-unit", "--console=passive", "--private-network",
		"--bind-ro="+repo+":/src", "--bind-ro="+bin+":/opt/cis490-test/cis490")
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.poweroff)
	deadline := time.Now().Add(30 * time.Second)
	for c.cpid == 0 && time.Now().Before(deadline) {
		out, _ := exec.Command("pgrep", "-x", "systemd", "-P", strconv.Itoa(c.cmd.Process.Pid)).Output()
		c.cpid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
		time.Sleep(100 * time.Millisecond)
	}
	if c.cpid == 0 {
		t.Fatalf("the container's systemd did not start:\n%s", c.log.String())
	}
	for time.Now().Before(deadline) {
		if exec.Command("nsenter", "-t", strconv.Itoa(c.cpid), "-a", "test", "-S", "/run/systemd/private").Run() == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.sh("timeout 30 systemctl is-system-running --wait || true")
	return c
}

// sh runs a shell command inside; it fails the test on a non-zero exit.
func (c *container) sh(script string) string {
	c.t.Helper()
	out, err := c.try(script, "")
	if err != nil {
		c.t.Fatalf("in the container: %s: %v\n%s", script, err, out)
	}
	return out
}

func (c *container) try(script, stdin string) (string, error) {
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(c.cpid), "-a", "sh", "-c", script)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *container) poweroff() {
	if c.cpid != 0 {
		// SIGRTMIN+4 asks systemd for a clean poweroff; Linux's SIGRTMIN is 34.
		syscall.Kill(c.cpid, syscall.Signal(34+4))
	}
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// TestSystemdForReal boots a real systemd in a container, runs both
// installers in it, and shows the units really running: the receiver as
// its user, the shipper active, the timers enabled, a doctor-check
// started by hand delivering its snapshot, and a second install changing
// nothing. It needs root and systemd-nspawn (CI installs both).
func TestSystemdForReal(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this test as root")
		}
		t.Skip("needs root, systemd-nspawn and debootstrap (CI runs it)")
	}
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	c := bootContainer(t, nspawnRoot(t), repo, binPath)
	const bin = "/opt/cis490-test/cis490"

	out := c.sh("sh /src/deploy/install-receiver.sh --binary " + bin + " --server-name 127.0.0.1")
	if !strings.Contains(out, "install-receiver.sh: installed") {
		t.Fatalf("install-receiver.sh:\n%s", out)
	}
	c.sh(`sed -i 's/^listen = .*/listen = "127.0.0.1:8443"/' /etc/cis490/receiver.toml && systemctl restart cis490-receiver.service`)
	waitActive(t, c, "cis490-receiver.service")
	if user := strings.TrimSpace(c.sh("stat -c %U /proc/$(systemctl show -p MainPID --value cis490-receiver.service)")); user != "cis490" {
		t.Fatalf("the receiver runs as %q, not cis490", user)
	}
	// Logs as Debian keeps them (root:adm 0640), and one only root may read.
	c.sh("echo hello-from-nspawn > /var/log/cis490-test.log && chgrp adm /var/log/cis490-test.log && chmod 0640 /var/log/cis490-test.log")
	c.sh("echo secret > /var/log/root-only.log && chmod 0600 /var/log/root-only.log")
	tok := c.sh("cis490 token create --host lab-1 --config /etc/cis490/receiver.toml 2>/dev/null")
	out, err := c.try("sh /src/deploy/install-lab-host.sh --binary "+bin+" --receiver https://127.0.0.1:8443 --host lab-1", tok)
	if err != nil || !strings.Contains(out, "install-lab-host.sh: installed") {
		t.Fatalf("install-lab-host.sh: %v\n%s", err, out)
	}
	waitActive(t, c, "cis490-shipper.service")
	if user, _ := c.try("stat -c %U /proc/$(systemctl show -p MainPID --value cis490-shipper.service)", ""); strings.TrimSpace(user) != "cis490-shipper" {
		t.Fatalf("the shipper runs as %q, not cis490-shipper:\n%s", user, c.sh("journalctl -u cis490-shipper --no-pager | tail -20"))
	}
	// Unprivileged, it still ships a log group adm may read.
	waitFor(t, c, "grep -rqs hello-from-nspawn /var/lib/cis490/logs", "the shipper's log lines never reached the receiver")
	timers := c.sh("systemctl list-timers --all --no-pager")
	for _, u := range []string{"cis490-doctor-check.timer", "cis490-autoupdate.timer", "cis490-cert-fetch.timer", "cis490-fleet-health.timer"} {
		if !strings.Contains(timers, u) {
			t.Errorf("%s is not listed:\n%s", u, timers)
		}
		if st := strings.TrimSpace(c.sh("systemctl is-enabled " + u + " || true")); st != "enabled" {
			t.Errorf("%s is %s", u, st)
		}
	}
	// A doctor-check started by hand delivers its snapshot.
	c.sh("systemctl start cis490-doctor-check.service || true")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.try("test -s /var/lib/cis490/host-health/lab-1.json", ""); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot arrived:\n%s", c.sh("journalctl -u cis490-doctor-check --no-pager | tail -20"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The snapshot is the shipper's view: the log only root may read is named.
	var snap struct {
		Checks []struct{ Name, Status, Finding string }
	}
	if err := json.Unmarshal([]byte(c.sh("cat /var/lib/cis490/host-health/lab-1.json")), &snap); err != nil {
		t.Fatal(err)
	}
	var sources string
	for _, ch := range snap.Checks {
		if ch.Name == "sources" {
			sources = ch.Status + " " + ch.Finding
		}
	}
	if !strings.HasPrefix(sources, "fail cis490-shipper cannot read /var/log/root-only.log") {
		t.Errorf("the snapshot's sources check: %q", sources)
	}
	// The detector's unit stays green, whatever it finds.
	c.sh("systemctl start cis490-fleet-health.service")
	if st := strings.TrimSpace(c.sh("systemctl show -p Result --value cis490-fleet-health.service")); st != "success" {
		t.Errorf("cis490-fleet-health.service: %s\n%s", st, c.sh("journalctl -u cis490-fleet-health --no-pager | tail -20"))
	}
	// A second run of each changes nothing.
	if out := c.sh("sh /src/deploy/install-receiver.sh --binary " + bin + " --server-name 127.0.0.1"); !strings.Contains(out, "nothing to change") {
		t.Errorf("a second install-receiver.sh:\n%s", out)
	}
	if out, err := c.try("sh /src/deploy/install-lab-host.sh --binary "+bin+" --receiver https://127.0.0.1:8443 --host lab-1", ""); err != nil || !strings.Contains(out, "nothing to change") {
		t.Errorf("a second install-lab-host.sh: %v\n%s", err, out)
	}
}

func waitFor(t *testing.T, c *container, check, failure string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.try(check, ""); err == nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s:\n%s", failure, c.sh("journalctl --no-pager | tail -30"))
}

func waitActive(t *testing.T, c *container, unit string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := c.try("systemctl is-active "+unit, ""); strings.TrimSpace(st) == "active" {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s is not active:\n%s", unit, c.sh(fmt.Sprintf("systemctl status --no-pager %s | tail -20; journalctl -u %s --no-pager | tail -20", unit, unit)))
}

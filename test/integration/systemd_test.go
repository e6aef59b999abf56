package integration

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/testenv"
)

// nspawnRoot is a minimal Debian with systemd, made once per machine by
// test/debian-root.sh (.ci/run makes it before the tests) and reused: the
// container runs it with --volatile=overlay, so every boot starts from it
// untouched. $CIS490_DEBIAN_ROOT says where it is.
func nspawnRoot(t *testing.T) string {
	t.Helper()
	root := debianRootDir()
	if out, err := exec.Command("sh", filepath.Join("..", "debian-root.sh"), root).CombinedOutput(); err != nil {
		t.Fatalf("test/debian-root.sh %s: %v\n%s", root, err, tailString(string(out), 2000))
	}
	return root
}

func debianRootDir() string {
	if d := os.Getenv("CIS490_DEBIAN_ROOT"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "cis490-nspawn-bookworm")
}

// needSystemd skips t (or under CI fails it) unless this machine can boot
// a real systemd: root, systemd-nspawn, and debootstrap unless the Debian
// root is made already.
func needSystemd(t *testing.T) {
	t.Helper()
	needs := []testenv.Need{testenv.Root(), testenv.SystemdNspawn()}
	if _, err := os.Stat(filepath.Join(debianRootDir(), ".complete")); err != nil {
		needs = append(needs, testenv.Debootstrap())
	}
	testenv.Require(t, needs...)
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

// bootContainer boots root (untouched: a volatile overlay) with the repo
// at /src and the binary under test at /opt/cis490-test/cis490; hostNet
// shares this machine's network, so a receiver here is reachable on
// 127.0.0.1.
func bootContainer(t *testing.T, root, bin string, hostNet bool, binds ...string) *container {
	t.Helper()
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	c := &container{t: t}
	args := []string{"-D", root, "--volatile=overlay", "-b", "--machine=cis490-test", "--register=no",
		"--keep-unit", "--console=passive", "--bind-ro=" + repo + ":/src", "--bind-ro=" + bin + ":/opt/cis490-test/cis490"}
	if !hostNet {
		args = append(args, "--private-network")
	}
	for _, b := range binds { // SRC:DST, read-only
		args = append(args, "--bind-ro="+b)
	}
	c.cmd = exec.Command("systemd-nspawn", args...)
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
// nothing. It needs root and systemd-nspawn (CI has both).
func TestSystemdForReal(t *testing.T) {
	needSystemd(t)
	c := bootContainer(t, nspawnRoot(t), binPath, false)
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

// TestSystemdLabHostUpdates: a lab host alone in a real systemd, enrolled
// with a receiver elsewhere (here: on this machine), with the binary
// behind the link autoupdate manages; then a signed release is published
// and the real autoupdate unit installs it and restarts the real shipper
// onto it.
func TestSystemdLabHostUpdates(t *testing.T) {
	needSystemd(t)
	dir := t.TempDir()
	rp := newReceiverProc(t, dir)
	key := filepath.Join(dir, "release.key")
	pub := strings.TrimSpace(runCLI(t, "release", "keygen", "--out", key))
	rp.extra = fmt.Sprintf("release_key = %q\n", pub)
	rp.writeConfig()
	rp.initCA()
	rp.Start()
	admin := filepath.Join(dir, "admin")
	runCLI(t, "ca", "issue", "--config", rp.cfgPath, "--admin", "it-admin", "--out", admin)
	tok := runCLI(t, "token", "create", "--host", "lab-2", "--config", rp.cfgPath)

	c := bootContainer(t, nspawnRoot(t), binPath, true)
	c.sh("echo hello-from-lab-2 > /var/log/cis490-test.log && chgrp adm /var/log/cis490-test.log && chmod 0640 /var/log/cis490-test.log")
	out, err := c.try("sh /src/deploy/install-lab-host.sh --binary /opt/cis490-test/cis490 --receiver "+rp.URL()+" --host lab-2", tok)
	if err != nil || !strings.Contains(out, "install-lab-host.sh: installed") {
		t.Fatalf("install-lab-host.sh: %v\n%s", err, out)
	}
	if l := strings.TrimSpace(c.sh("readlink /usr/local/bin/cis490")); l != "/var/lib/cis490/bin/current/cis490" {
		t.Fatalf("/usr/local/bin/cis490 points at %q, not through the link autoupdate manages", l)
	}
	waitActive(t, c, "cis490-shipper.service")
	shipperExe := "readlink /proc/$(systemctl show -p MainPID --value cis490-shipper.service)/exe"
	deadline := time.Now().Add(30 * time.Second)
	for !grepTree(filepath.Join(rp.dataDir, "logs"), "hello-from-lab-2") {
		if time.Now().After(deadline) {
			t.Fatalf("lab-2's log never reached the receiver:\n%s", c.sh("journalctl -u cis490-shipper --no-pager | tail -20"))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out := c.sh("systemctl start cis490-autoupdate.service; journalctl -u cis490-autoupdate --no-pager | tail -3"); !strings.Contains(out, "nothing") && strings.Contains(out, "Failed") {
		t.Fatalf("autoupdate with nothing published:\n%s", out)
	}

	// The real cert-fetch unit (root) renews; the new key stays readable by
	// the unprivileged shipper, which sends with the new certificate.
	c.sh(`mkdir -p /etc/systemd/system/cis490-cert-fetch.service.d && printf '[Service]\nExecStart=\nExecStart=/usr/local/bin/cis490 cert-fetch --config /etc/cis490/lab-host.toml --force\n' > /etc/systemd/system/cis490-cert-fetch.service.d/force.conf && systemctl daemon-reload`)
	c.sh("systemctl start cis490-cert-fetch.service || true")
	if st := strings.TrimSpace(c.sh("systemctl show -p Result --value cis490-cert-fetch.service")); st != "success" {
		t.Fatalf("cis490-cert-fetch.service: %s\n%s", st, c.sh("journalctl -u cis490-cert-fetch --no-pager | tail -20"))
	}
	if st := strings.TrimSpace(c.sh("stat -c '%G %a' /etc/cis490/host.key")); st != "cis490-shipper 640" {
		t.Fatalf("the renewed key is %s, not cis490-shipper 640", st)
	}
	block, _ := pem.Decode([]byte(c.sh("cat /etc/cis490/host.crt")))
	renewed, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c.sh("echo after-renewal >> /var/log/cis490-test.log")
	want := `"cert_expires":"` + renewed.NotAfter.UTC().Format(time.RFC3339) + `"`
	deadline = time.Now().Add(30 * time.Second)
	for !grepTree(filepath.Join(rp.dataDir, "index"), `"host":"lab-2"`) || !grepTree(filepath.Join(rp.dataDir, "index"), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the shipper never sent with the renewed certificate (%s):\n%s", want, c.sh("journalctl -u cis490-shipper --no-pager | tail -20"))
		}
		time.Sleep(300 * time.Millisecond)
	}

	// A signed release, published; the autoupdate unit takes it.
	const newCommit = "9999999999999999999999999999999999999999"
	artifact := filepath.Join(dir, "cis490-linux-"+runtime.GOARCH)
	build := exec.Command("go", "build", "-buildvcs=false", "-o", artifact, "-ldflags",
		"-X github.com/cis490/cis490/internal/buildinfo.version=9.9.9 -X github.com/cis490/cis490/internal/buildinfo.commit="+newCommit, "./cmd/cis490")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the release: %v\n%s", err, out)
	}
	runCLI(t, "release", "sign", "--key", key, "--version", "9.9.9", "--commit", newCommit, "--out", filepath.Join(dir, "rel"), artifact)
	runCLI(t, "release", "publish", "--admin", admin, "--receiver", rp.URL(), "--from", filepath.Join(dir, "rel", "9.9.9"))
	c.sh("systemctl start cis490-autoupdate.service || true")
	if st := strings.TrimSpace(c.sh("systemctl show -p Result --value cis490-autoupdate.service")); st != "success" {
		t.Fatalf("cis490-autoupdate.service: %s\n%s", st, c.sh("journalctl -u cis490-autoupdate --no-pager | tail -20"))
	}
	if l := strings.TrimSpace(c.sh("readlink /var/lib/cis490/bin/current")); l != "9.9.9" {
		t.Fatalf("bin/current points at %q after the update:\n%s", l, c.sh("cat /var/lib/cis490/bin/last-update.json; journalctl -u cis490-autoupdate --no-pager | tail -20"))
	}
	waitActive(t, c, "cis490-shipper.service")
	if exe := strings.TrimSpace(c.sh(shipperExe)); exe != "/var/lib/cis490/bin/9.9.9/cis490" {
		t.Fatalf("the shipper runs %q after the update, not the new release", exe)
	}
	if out := c.sh("cat /var/lib/cis490/bin/last-update.json"); !strings.Contains(out, `"result": "updated"`) {
		t.Fatalf("last-update.json:\n%s", out)
	}
}

// grepTree reports whether any file under dir contains s.
func grepTree(dir, s string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !found {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
				found = true
			}
		}
		return nil
	})
	return found
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

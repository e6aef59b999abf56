package integration

import (
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestPackagesForReal builds the Debian packages with packaging/build.sh
// (nfpm pinned in tools/go.mod), two versions of them, and installs them in
// a booted Debian: the receiver's units start and verify, the lab host's
// are enabled and wait for enrollment without failing, the host ships once
// enrolled, an upgrade restarts both onto the new binary and loses and
// repeats nothing, and removing both packages stops the units and leaves
// the data in place.
func TestPackagesForReal(t *testing.T) {
	needSystemd(t)
	dist := t.TempDir()
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}[runtime.GOARCH]
	for _, v := range []string{"0.3.0", "0.3.1", "0.3.2"} {
		build := exec.Command("sh", "packaging/build.sh", "--version", v, "--arch", arch, "--out", dist)
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("packaging/build.sh --version %s: %v\n%s", v, err, out)
		}
	}
	deb := func(pkg, version string) string { return "/debs/" + pkg + "_" + version + "_" + arch + ".deb" }
	c := bootContainer(t, nspawnRoot(t), binPath, false, dist+":/debs")

	out := c.sh("dpkg -i " + deb("cis490-receiver", "0.3.0") + " 2>&1")
	waitActive(t, c, "cis490-receiver.service")
	if user := strings.TrimSpace(c.sh("stat -c %U /proc/$(systemctl show -p MainPID --value cis490-receiver.service)")); user != "cis490" {
		t.Fatalf("the packaged receiver runs as %q:\n%s", user, out)
	}
	// The server certificate names the machine, not only localhost.
	block, _ := pem.Decode([]byte(c.sh("cat /var/lib/cis490/ca/server.crt")))
	if block == nil {
		t.Fatal("no server certificate after installing the receiver package")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !slices.Contains(cert.DNSNames, strings.TrimSpace(c.sh("hostname"))) {
		t.Fatalf("the packaged receiver's certificate names %v, not this machine (%v)", cert.DNSNames, err)
	}
	if st := strings.TrimSpace(c.sh("systemctl is-enabled cis490-fleet-health.timer")); st != "enabled" {
		t.Errorf("cis490-fleet-health.timer is %s", st)
	}

	out = c.sh("dpkg -i " + deb("cis490-lab-host", "0.3.0") + " 2>&1")
	if !strings.Contains(out, "enroll this host") {
		t.Errorf("the lab-host package does not say how to enroll:\n%s", out)
	}
	for _, u := range []string{"cis490-doctor-check.timer", "cis490-autoupdate.timer", "cis490-cert-fetch.timer", "cis490-shipper.service"} {
		if st := strings.TrimSpace(c.sh("systemctl is-enabled " + u)); st != "enabled" {
			t.Errorf("%s is %s after installing the package", u, st)
		}
	}
	// Not enrolled yet: the shipper is skipped by its condition, not failed.
	c.sh("systemctl start cis490-shipper.service")
	if st, _ := c.try("systemctl is-failed cis490-shipper.service", ""); strings.TrimSpace(st) == "failed" {
		t.Errorf("the shipper failed before enrollment:\n%s", c.sh("journalctl -u cis490-shipper --no-pager | tail"))
	}
	if out, err := c.try("systemd-analyze verify /usr/lib/systemd/system/cis490-*.service /usr/lib/systemd/system/cis490-*.timer 2>&1", ""); err != nil {
		t.Errorf("the packaged units do not verify: %v\n%s", err, out)
	}

	// A debootstrapped root has no /etc/hosts; an installed Debian does.
	c.sh("grep -qs localhost /etc/hosts || echo '127.0.0.1 localhost' >> /etc/hosts")
	tok := c.sh("cis490 token create --host lab-1 --config /etc/cis490/receiver.toml 2>/dev/null")
	if out, err := c.try("cis490 enroll --receiver https://localhost:8443 --host lab-1 --dir /etc/cis490", tok); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	c.sh("echo from-the-package > /var/log/pkg-test.log && chgrp adm /var/log/pkg-test.log && chmod 0640 /var/log/pkg-test.log")
	c.sh("systemctl start cis490-shipper.service")
	waitActive(t, c, "cis490-shipper.service")
	waitFor(t, c, "grep -rqs from-the-package /var/lib/cis490/logs", "the packaged shipper's log never reached the packaged receiver")

	// An upgrade to 0.3.1 keeps the fleet's CA and what the admin
	// disabled, restarts the receiver and the shipper onto the new binary,
	// and the shipper goes on where it was: the line written before is
	// stored once, the line written during and after the upgrade too.
	caBefore := c.sh("sha256sum /var/lib/cis490/ca/ca.crt")
	c.sh("systemctl disable --now cis490-autoupdate.timer 2>&1")
	pids := c.sh("systemctl show -p MainPID --value cis490-receiver.service cis490-shipper.service")
	c.sh("echo during-the-upgrade >> /var/log/pkg-test.log")
	c.sh("dpkg -i " + deb("cis490-receiver", "0.3.1") + " " + deb("cis490-lab-host", "0.3.1") + " 2>&1")
	if after := c.sh("sha256sum /var/lib/cis490/ca/ca.crt"); after != caBefore {
		t.Error("upgrading the receiver package replaced the fleet's CA")
	}
	if st, _ := c.try("systemctl is-enabled cis490-autoupdate.timer", ""); strings.TrimSpace(st) != "disabled" {
		t.Errorf("an upgrade re-enabled the timer the admin disabled: %s", st)
	}
	waitActive(t, c, "cis490-receiver.service")
	waitActive(t, c, "cis490-shipper.service")
	if v := c.sh("cis490 version"); !strings.Contains(v, "0.3.1") {
		t.Errorf("after the upgrade cis490 version says %q", v)
	}
	if now := c.sh("systemctl show -p MainPID --value cis490-receiver.service cis490-shipper.service"); now == pids {
		t.Errorf("the upgrade restarted neither the receiver nor the shipper (main PIDs %q)", strings.Fields(now))
	}
	for _, u := range []string{"cis490-receiver.service", "cis490-shipper.service"} {
		if exe := c.sh("readlink /proc/$(systemctl show -p MainPID --value " + u + ")/exe"); strings.Contains(exe, "deleted") {
			t.Errorf("%s still runs the replaced binary: %s", u, exe)
		}
	}
	c.sh("echo after-the-upgrade >> /var/log/pkg-test.log")
	waitFor(t, c, "grep -rqs after-the-upgrade /var/lib/cis490/logs", "the shipper's log written after the upgrade never arrived")
	for _, line := range []string{"from-the-package", "during-the-upgrade", "after-the-upgrade"} {
		if n := strings.TrimSpace(c.sh("cat /var/lib/cis490/logs/* | grep -c " + line + " || true")); n != "1" {
			t.Errorf("%q is stored %s times across the upgrade; want once", line, n)
		}
	}

	// Upgrading the receiver alone: the shipper on this machine runs the
	// receiver's binary, so it is restarted onto the new one too.
	shipperPID := c.sh("systemctl show -p MainPID --value cis490-shipper.service")
	c.sh("dpkg -i " + deb("cis490-receiver", "0.3.2") + " 2>&1")
	waitActive(t, c, "cis490-shipper.service")
	if now := c.sh("systemctl show -p MainPID --value cis490-shipper.service"); now == shipperPID {
		t.Error("upgrading the receiver package left the shipper on this machine running the replaced binary")
	}

	// Removed and installed again (dpkg kept the conffile, so the
	// postinst is told an old version): the receiver is enabled and runs
	// again, as before the removal.
	c.sh("dpkg -r cis490-receiver 2>&1")
	if st, _ := c.try("systemctl is-active cis490-receiver.service", ""); strings.TrimSpace(st) == "active" {
		t.Error("the receiver still runs after its package was removed")
	}
	c.sh("dpkg -i " + deb("cis490-receiver", "0.3.2") + " 2>&1")
	waitActive(t, c, "cis490-receiver.service")
	for _, u := range []string{"cis490-receiver.service", "cis490-fleet-health.timer"} {
		if st, _ := c.try("systemctl is-enabled "+u, ""); strings.TrimSpace(st) != "enabled" {
			t.Errorf("%s is %s after removing and reinstalling the receiver; it was enabled", u, strings.TrimSpace(st))
		}
	}
	// The same for the enrolled lab host: the shipper runs again, the timer
	// the admin disabled stays disabled.
	c.sh("dpkg -r cis490-lab-host 2>&1; dpkg -i " + deb("cis490-lab-host", "0.3.1") + " 2>&1")
	waitActive(t, c, "cis490-shipper.service")
	if st, _ := c.try("systemctl is-enabled cis490-autoupdate.timer", ""); strings.TrimSpace(st) != "disabled" {
		t.Errorf("removing and reinstalling the lab host enabled the timer the admin disabled: %s", st)
	}

	c.sh("dpkg -r cis490-lab-host cis490-receiver 2>&1")
	for _, u := range []string{"cis490-receiver.service", "cis490-shipper.service"} {
		if st, _ := c.try("systemctl is-active "+u, ""); strings.TrimSpace(st) == "active" {
			t.Errorf("%s still runs after the packages were removed", u)
		}
	}
	for _, p := range []string{"/var/lib/cis490/ca/ca.key", "/etc/cis490/receiver.toml", "/etc/cis490/lab-host.toml", "/etc/cis490/host.key", "/var/lib/cis490/index"} {
		if _, err := c.try("test -e "+p, ""); err != nil {
			t.Errorf("removing the packages removed %s", p)
		}
	}
	if _, err := c.try("grep -rqs from-the-package /var/lib/cis490/logs", ""); err != nil {
		t.Error("removing the packages removed the stored logs")
	}

	// A lab host alone: the binary behind the link autoupdate manages.
	h := bootContainer(t, nspawnRoot(t), binPath, false, dist+":/debs")
	h.sh("dpkg -i " + deb("cis490-lab-host", "0.3.0") + " 2>&1")
	if l := strings.TrimSpace(h.sh("readlink /usr/bin/cis490; readlink /var/lib/cis490/bin/current")); l != "/var/lib/cis490/bin/current/cis490\n0.3.0" {
		t.Fatalf("the packaged lab host's binary links: %q", l)
	}
	if v := h.sh("cis490 version"); !strings.Contains(v, "0.3.0") {
		t.Fatalf("cis490 version through the link: %q", v)
	}
	if st := strings.TrimSpace(h.sh("stat -c '%G %a' /etc/cis490")); st != "cis490-shipper 2755" {
		t.Errorf("/etc/cis490 is %s", st)
	}
	// An upgrade moves the link forward; once autoupdate is ahead of the
	// package (here: 0.3.2, copied in as autoupdate would), installing the
	// package again leaves the host on autoupdate's version.
	h.sh("dpkg -i " + deb("cis490-lab-host", "0.3.1") + " 2>&1")
	if l := strings.TrimSpace(h.sh("readlink /var/lib/cis490/bin/current")); l != "0.3.1" {
		t.Errorf("after upgrading the package the link points at %q; want 0.3.1", l)
	}
	// Removed and installed again: what was enabled is enabled again, what
	// the admin disabled stays disabled.
	h.sh("systemctl disable cis490-autoupdate.timer 2>&1; dpkg -r cis490-lab-host 2>&1; dpkg -i " + deb("cis490-lab-host", "0.3.1") + " 2>&1")
	for u, want := range map[string]string{"cis490-shipper.service": "enabled", "cis490-cert-fetch.timer": "enabled", "cis490-autoupdate.timer": "disabled"} {
		if st, _ := h.try("systemctl is-enabled "+u, ""); strings.TrimSpace(st) != want {
			t.Errorf("%s is %s after removing and reinstalling the lab host; want %s", u, strings.TrimSpace(st), want)
		}
	}
	h.sh("cp -a /var/lib/cis490/bin/0.3.1 /var/lib/cis490/bin/0.3.2 && ln -sfn 0.3.2 /var/lib/cis490/bin/current")
	h.sh("dpkg -i " + deb("cis490-lab-host", "0.3.1") + " 2>&1")
	if l := strings.TrimSpace(h.sh("readlink /var/lib/cis490/bin/current")); l != "0.3.2" {
		t.Errorf("reinstalling the package moved the link back from autoupdate's 0.3.2 to %q", l)
	}
	h.sh("dpkg -r cis490-lab-host 2>&1")
	if _, err := h.try("test -e /usr/bin/cis490", ""); err == nil {
		t.Error("removing the lab-host package left /usr/bin/cis490 pointing nowhere")
	}

	// A receiver whose admin moved data_dir (in single quotes, as TOML
	// allows) and named the receiver before installing: the CA, the logs
	// and the detector's state go there, the units may write there, and
	// the certificate names what the admin wrote and the machine.
	h.sh(`printf "data_dir = '/srv/cis490'\nserver_names = [\"logs.lab.example\"]\n" > /etc/cis490/receiver.toml`)
	if out, err := h.try("dpkg -i --force-confold "+deb("cis490-receiver", "0.3.1")+" 2>&1", ""); err != nil {
		t.Fatalf("installing the receiver with data_dir moved: %v\n%s", err, out)
	}
	waitActive(t, h, "cis490-receiver.service")
	if own := strings.TrimSpace(h.sh("stat -c %U /srv/cis490 /srv/cis490/ca/ca.key")); own != "cis490\ncis490" {
		t.Errorf("the moved data_dir and its CA belong to %q", own)
	}
	if out, err := h.try("systemctl start cis490-fleet-health.service 2>&1 && test -n \"$(ls /srv/cis490)\"", ""); err != nil {
		t.Errorf("the detector cannot run with data_dir moved: %v\n%s\n%s", err, out, h.sh("journalctl -u cis490-fleet-health --no-pager | tail"))
	}
	block, _ = pem.Decode([]byte(h.sh("cat /srv/cis490/ca/server.crt")))
	if block == nil {
		t.Fatal("no server certificate in the moved data_dir")
	}
	if cert, err = x509.ParseCertificate(block.Bytes); err != nil || !slices.Contains(cert.DNSNames, "logs.lab.example") ||
		!slices.Contains(cert.DNSNames, strings.TrimSpace(h.sh("hostname"))) {
		t.Errorf("the certificate names %v; want server_names' logs.lab.example and this machine (%v)", cert.DNSNames, err)
	}
	if _, err := h.try("test -e /var/lib/cis490/ca", ""); err == nil {
		t.Error("a CA was made in /var/lib/cis490 although data_dir is /srv/cis490")
	}
}

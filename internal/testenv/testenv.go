// Package testenv lets a test that needs something this machine may lack
// (a tool, root) skip with one line naming it and the Debian package that
// brings it, except under CI, where the same lack fails the test: CI must
// never go green by skipping the tests that boot a real systemd, install
// the packages or drive a browser. BuildCis490 builds the real binary for
// the test packages that drive it. Postgres, NewPostgres, S3Server and
// NewS3 run real PostgreSQL and S3 (versitygw) servers on loopback for the
// storage tests.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Need is something a test needs from the machine.
type Need struct {
	what string      // said in the skip: "debootstrap", "root"
	how  string      // how to get it: "apt-get install debootstrap"
	have func() bool // whether this machine has it
}

// Tool is a command found on PATH, brought by a Debian package.
func Tool(name, pkg string) Need {
	return Need{what: name, how: "apt-get install " + pkg, have: func() bool {
		_, err := exec.LookPath(name)
		return err == nil
	}}
}

// Root is running as root.
func Root() Need {
	return Need{what: "root", how: "run the tests as root", have: func() bool { return os.Geteuid() == 0 }}
}

// The needs the tests that boot a real systemd or drive a browser have.

func Debootstrap() Need    { return Tool("debootstrap", "debootstrap") }
func SystemdNspawn() Need  { return Tool("systemd-nspawn", "systemd-container") }
func SystemdAnalyze() Need { return Tool("systemd-analyze", "systemd") }
func Chromium() Need       { return Tool("chromium", "chromium") }

// Logrotate is Debian's logrotate, by the absolute path the shipper tests
// run it at: /usr/sbin is not on a normal user's PATH.
func Logrotate() Need { return Tool("/usr/sbin/logrotate", "logrotate") }

// HAProxy is Debian's haproxy, the TCP load balancer the scale-out tests
// put in front of several receivers, by its absolute path as Logrotate.
func HAProxy() Need { return Tool("/usr/sbin/haproxy", "haproxy") }

// InCI reports whether the tests run under CI (CI=true, as CI services set
// it).
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// Require skips t, in one line naming every need this machine lacks and
// how to get it, or under CI fails it the same way.
func Require(t testing.TB, needs ...Need) {
	t.Helper()
	var missing []string
	for _, n := range needs {
		if !n.have() {
			missing = append(missing, fmt.Sprintf("%s (%s)", n.what, n.how))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, ", ")
	if InCI() {
		t.Fatal(msg + ": CI must have it, so this test fails rather than skips")
		return
	}
	t.Skip(msg)
}

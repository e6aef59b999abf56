package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// hostLayout is where a bundle's lab-host.toml keeps the shipper's state
// and what it ships. The zero layout is a lab host's: /var/lib/cis490 and
// /var/log/*.log.
type hostLayout struct {
	stateDir string   // state_dir as written, relative to lab-host.toml; "" leaves the default
	sources  []string // absolute paths or globs; none ships /var/log/*.log
	// journal: with no sources given, ship the systemd journal too (the
	// host has one) and leave out of /var/log/*.log the files rsyslog
	// copies the journal into.
	journal bool
}

// RsyslogCopies are the files under /var/log matching *.log that Debian's
// and Ubuntu's stock rsyslog.conf fill from the journal (syslog and
// messages do not match *.log): where the journal ships, they would ship
// its messages twice.
var RsyslogCopies = []string{"auth.log", "cron.log", "daemon.log", "kern.log", "lpr.log", "mail.log", "user.log"}

// hasJournal reports whether this machine runs systemd-journald: its
// socket folder exists while it runs.
func hasJournal() bool {
	st, err := os.Stat("/run/systemd/journal")
	return err == nil && st.IsDir()
}

// layoutFlags adds --state-dir and --source to fs.
func layoutFlags(fs *flag.FlagSet) *hostLayout {
	l := &hostLayout{}
	fs.StringVar(&l.stateDir, "state-dir", "", "state_dir written into lab-host.toml, relative to it or absolute (default /var/lib/cis490, or state/ beside lab-host.toml for a bundle used on this machine)")
	fs.Func("source", "an absolute path or glob written into lab-host.toml to ship (repeat; default /var/log/*.log, or logs/*.log beside the bundle folder for a bundle used on this machine)", func(v string) error {
		if !filepath.IsAbs(v) {
			return fmt.Errorf("%q is relative; give an absolute path or glob, like %q", v, "/var/log/syslog")
		}
		l.sources = append(l.sources, v)
		return nil
	})
	return l
}

// isSystemPath reports whether path is in an etc folder: a receiver
// configured in /etc, or a host enrolled there or in an image's
// ROOT/etc/cis490 (the installers' --root), is a real installation;
// anywhere else it is someone trying cis490 in a folder of their own, as
// the README's scratch-folder walk does.
func isSystemPath(path string) bool {
	abs, err := filepath.Abs(path)
	return err == nil && slices.Contains(strings.Split(filepath.ToSlash(abs), "/"), "etc")
}

// localDefaults fills what the flags left empty for a bundle in bundleDir
// used on this machine, without root: the shipper's state inside the
// bundle and the logs in a logs folder beside it, both a user can write.
func (l hostLayout) localDefaults(bundleDir string) (hostLayout, error) {
	if l.stateDir == "" {
		l.stateDir = "state"
	}
	if len(l.sources) == 0 {
		abs, err := filepath.Abs(filepath.Dir(filepath.Clean(bundleDir)))
		if err != nil {
			return l, fmt.Errorf("find the folder beside %s: %w", bundleDir, err)
		}
		l.sources = []string{filepath.Join(abs, "logs", "*.log")}
	}
	return l, nil
}

// toml is the layout's part of lab-host.toml.
func (l hostLayout) toml() (stateDir, sources string) {
	if l.stateDir != "" {
		stateDir = fmt.Sprintf("state_dir = %q # the shipper's checkpoints; relative to this file\n", l.stateDir)
	}
	if len(l.sources) == 0 && l.journal {
		return stateDir, fmt.Sprintf(`# What to ship: the systemd journal (one stream, "journal", from this boot
# on; the shipper's user reads it through group systemd-journal), and every
# *.log under /var/log (each file its own stream) except those rsyslog
# copies the journal into, which would ship its messages twice. Add more:
# [[source]]
# path = "/var/log/syslog"
[[journal]]

[[source]]
path = "/var/log/*.log"
exclude = ["%s"]
`, strings.Join(RsyslogCopies, `", "`))
	}
	if len(l.sources) == 0 {
		return stateDir, `# What to ship: every *.log under /var/log (each file its own stream), as
# the shipper's user can read them (it is in group adm). Add more:
# [[source]]
# path = "/var/log/syslog"
[[source]]
path = "/var/log/*.log"
`
	}
	sources = "# What to ship (each file its own stream). Add more:\n# [[source]]\n# path = \"/var/log/syslog\"\n"
	for _, s := range l.sources {
		sources += fmt.Sprintf("[[source]]\npath = %q\n", s)
	}
	return stateDir, sources
}

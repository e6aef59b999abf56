package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/journal"
	"github.com/cis490/cis490/internal/shipper"
	"github.com/cis490/cis490/internal/wire"
)

// currentUser names this process's user.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "this user"
}

// checkSources opens every configured log as this process can: the
// doctor-check unit runs as the shipper's user, so a log that user may not
// read (the shipper runs unprivileged) shows here with the fix.
func checkSources(ctx context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	if len(e.cfg.Sources) == 0 && len(e.cfg.Journals) == 0 {
		return Check{Status: Warn, Finding: "no [[source]] configured: this host ships nothing", Fix: "add [[source]] path = \"/var/log/…\" to " + e.opt.Config}
	}
	if len(e.cfg.Journals) > 0 {
		// As the shipper reads it: the doctor-check unit runs as its user.
		switch err := journal.Check(ctx); {
		case errors.Is(err, journal.ErrNoPermission):
			return Check{Status: Fail, Finding: fmt.Sprintf("%s cannot read the system journal, which a [[journal]] source ships", currentUser()), Fix: journal.PermissionFix}
		case errors.Is(err, journal.ErrNoJournalctl):
			return Check{Status: Fail, Finding: "a [[journal]] source is configured, but " + err.Error(), Fix: "install systemd's journalctl, or remove the [[journal]] source from " + e.opt.Config}
		case err != nil:
			return Check{Status: Fail, Finding: "journalctl fails: " + oneLine(err), Fix: "run journalctl --system -n 1 as the shipper's user to see why"}
		}
		if len(e.cfg.Sources) == 0 {
			return Check{Finding: fmt.Sprintf("the journal is readable (%s)", human.Count(len(e.cfg.Journals), "journal source"))}
		}
	}
	var files, missing, denied []string
	readable := 0 // sources whose every file opened (a glob: at least one matched)
	for _, src := range e.cfg.Sources {
		paths := []string{src.Path}
		before := len(missing) + len(denied)
		if src.IsGlob() {
			paths, _ = filepath.Glob(src.Path)
			if len(paths) == 0 {
				missing = append(missing, src.Path)
			}
		}
		for _, p := range paths {
			if len(files) >= 500 { // enough to tell; a huge glob is the shipper's to walk
				break
			}
			f, err := os.Open(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				missing = append(missing, p)
			case err != nil:
				denied = append(denied, p)
			default:
				f.Close()
				files = append(files, p)
			}
		}
		if len(missing)+len(denied) == before {
			readable++
		}
	}
	// Counted by source, in words that agree with their numbers ("1 of 1
	// source", "2 files"); a missing file is named even beside an
	// unreadable one, so fixing one problem does not reveal another.
	found := fmt.Sprintf("%d of %s readable (%s)", readable, human.Count(len(e.cfg.Sources), "source"), human.Count(len(files), "file"))
	if len(missing) > 0 {
		found += "; nothing there yet: " + firstFew(missing)
	}
	switch {
	case len(denied) > 0:
		who := currentUser()
		return Check{Status: Fail, Finding: fmt.Sprintf("%s cannot read %s; %s", who, firstFew(denied), found),
			Fix: shipper.ReadableFix(who)}
	case len(missing) > 0:
		return Check{Status: Warn, Finding: found, Fix: "check the [[source]] paths in " + e.opt.Config}
	}
	return Check{Finding: found}
}

func firstFew(s []string) string {
	if len(s) > 3 {
		return strings.Join(s[:3], ", ") + fmt.Sprintf(" and %d more", len(s)-3)
	}
	return strings.Join(s, ", ")
}

func checkShipper(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	st, err := shipper.Status(e.cfg.StateDir)
	if err != nil {
		return Check{Status: Warn, Finding: "cannot read the shipper's checkpoints: " + oneLine(err), Fix: "run the doctor as the shipper's user (cis490-shipper) or root"}
	}
	if len(st) == 0 {
		return Check{Status: Warn, Finding: "the shipper has shipped nothing yet (no checkpoint in " + e.cfg.StateDir + ")", Fix: "systemctl status cis490-shipper"}
	}
	var last time.Time
	var waiting []string
	var worst time.Duration
	for _, s := range st {
		last = maxTime(last, s.LastCheckpoint)
		if s.Backlog <= 0 {
			continue
		}
		// Every unshipped byte was written before the file's last write:
		// a backlog in a file written minutes ago is waiting that long at
		// least (a fresh line inside the batch window is not).
		age := max(0, e.now.Sub(s.Written))
		worst = max(worst, age)
		if len(waiting) < 3 {
			waiting = append(waiting, fmt.Sprintf("%s %s for %s or more", s.Stream, human.Bytes(s.Backlog), human.Duration(age)))
		}
	}
	f := fmt.Sprintf("%d streams, last checkpoint %s ago", len(st), human.Duration(max(0, e.now.Sub(last))))
	if len(waiting) == 0 {
		return Check{Finding: f + ", nothing waiting"}
	}
	f += "; not shipped yet: " + strings.Join(waiting, ", ")
	batch := e.cfg.Batch.MaxWait.Duration() + 2*time.Minute // the batch window and a fallback poll
	switch {
	case worst > time.Hour:
		return Check{Status: Fail, Finding: f, Fix: "the shipper is stuck: journalctl -u cis490-shipper, and see the receiver checks above"}
	case worst > batch:
		return Check{Status: Warn, Finding: f, Fix: "journalctl -u cis490-shipper"}
	}
	return Check{Finding: f}
}

func checkDisk(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	dir := e.cfg.StateDir
	for {
		if _, err := os.Stat(dir); err == nil || dir == "/" || dir == "." {
			break
		}
		dir = path.Dir(dir)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return Check{Status: Warn, Finding: oneLine(err)}
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	e.fact(func(f *Facts) { f.DiskFree = free })
	f := fmt.Sprintf("%s free where the shipper keeps its state (%s)", human.Bytes(free), dir)
	switch {
	case free < 10<<20:
		return Check{Status: Fail, Finding: f, Fix: "free space: the shipper cannot save its checkpoints"}
	case free < 100<<20:
		return Check{Status: Warn, Finding: f, Fix: "free space soon"}
	}
	return Check{Finding: f}
}

// lossWarned is how long the doctor warns after the shipper lost logs.
const lossWarned = 24 * time.Hour

// checkLosses warns for a day after the shipper lost bytes for good: a
// warning, not a failure (nothing on the host is broken now, and
// autoupdate's rollback must not take it for a broken release).
func checkLosses(_ context.Context, e *env) Check {
	if e.cfg == nil {
		return skip("no config")
	}
	st, err := shipper.Status(e.cfg.StateDir)
	if err != nil {
		return skip("the shipper's checkpoints are unreadable (see the shipper check)")
	}
	var last *shipper.SourceState
	n := 0
	for i, s := range st {
		if s.LastLoss == nil || e.now.Sub(s.LastLoss.At) > lossWarned {
			continue
		}
		n++
		if last == nil || s.LastLoss.At.After(last.LastLoss.At) {
			last = &st[i]
		}
	}
	if last == nil {
		return Check{Finding: "no logs lost for good in the last day"}
	}
	l := last.LastLoss
	f := fmt.Sprintf("%s of %s were lost for good %s ago (%s)", wire.LossAmount(l.Bytes, l.Entries), last.Stream, human.Duration(max(0, e.now.Sub(l.At))), l.Cause)
	if n > 1 {
		f += fmt.Sprintf("; %d streams lost logs in the last day", n)
	}
	return Check{Status: Warn, Finding: f, Fix: wire.LossFix(l.Cause)}
}

package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Paths where journalctl is looked for, in order. It is run by absolute
// path only: a PATH (or a service's lack of one) must not choose which
// program reads the journal.
// journalctlPaths are where journalctl may be, by absolute path only.
func journalctlPaths() []string { return []string{"/usr/bin/journalctl", "/bin/journalctl"} }

// ErrNoJournalctl means journalctl is not installed where it is looked for.
var ErrNoJournalctl = errors.New("journalctl is not installed (looked for /usr/bin/journalctl and /bin/journalctl); install systemd, or remove the [[journal]] source")

// ErrBadCursor means journalctl refused the saved cursor: it is not a
// cursor of this journal (a checkpoint from elsewhere, or damaged).
var ErrBadCursor = errors.New("journalctl cannot seek to the saved cursor")

// ErrNoPermission means the journal is there but this user may not read
// the system's entries.
var ErrNoPermission = errors.New("this user may not read the system journal")

// PermissionFix says how to let the shipper read the journal.
const PermissionFix = "add the shipper's user to group systemd-journal (usermod -aG systemd-journal cis490-shipper; install-lab-host.sh does it) and restart cis490-shipper"

// FindJournalctl returns journalctl's absolute path.
func FindJournalctl() (string, error) {
	for _, p := range journalctlPaths() {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoJournalctl
}

// Options say where journalctl starts.
type Options struct {
	// Journalctl is its absolute path; empty: FindJournalctl.
	Journalctl string
	// Cursor is the last entry shipped: reading starts at it (and Resume
	// drops it). Empty: a first start, from Since.
	Cursor string
	// AllHistory, on a first start, reads the whole journal rather than
	// the current boot.
	AllHistory bool
	// Booted is when the current boot began (BootTime), where a first
	// start without AllHistory begins; zero: the whole journal.
	Booted time.Time
	// UserJournals reads users' own journals too; without it only the
	// system's (--system).
	UserJournals bool
	// Directory reads journal files from there (--directory): for tests.
	Directory string
}

// Args are journalctl's arguments for o: never a match filter.
//
// --merge is there for what it turns off: from systemd 251 on, --follow
// adds --boot (a _BOOT_ID match) unless --merge is given, which would
// skip the entries of a previous boot after the saved cursor (those
// written while the machine shut down) and read only the current boot
// for since = "all". The current boot is found by time (--since the
// moment it began), not by --boot, for the same reason.
func (o Options) Args() []string {
	// Not --quiet: it hides the hint that says the journal is only partly
	// readable, which is how Reader tells that apart.
	args := []string{"--no-pager", "--follow", "--output=export", "--merge"}
	if !o.UserJournals && o.Directory == "" {
		args = append(args, "--system")
	}
	if o.Directory != "" {
		args = append(args, "--directory="+o.Directory)
	}
	switch {
	case o.Cursor != "":
		args = append(args, "--cursor="+o.Cursor)
	case o.AllHistory || o.Booted.IsZero():
		args = append(args, "--no-tail")
	default:
		args = append(args, "--no-tail", fmt.Sprintf("--since=@%d", o.Booted.Unix()))
	}
	return args
}

// BootTime is when this machine booted, by the clock: now less the
// uptime, a second early so no entry of the boot is missed.
func BootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, fmt.Errorf("read the uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("read the uptime: /proc/uptime holds %q", b)
	}
	up, err := time.ParseDuration(f[0] + "s")
	if err != nil {
		return time.Time{}, fmt.Errorf("read the uptime: %w", err)
	}
	return time.Now().Add(-up - time.Second), nil
}

// Env is journalctl's whole environment: nothing inherited. LC_ALL=C
// keeps its messages in English, which is what Reader recognises a
// permission problem by; SYSTEMD_COLORS=0 and SYSTEMD_LESS keep terminal
// decoration away from a pipe.
func Env() []string {
	return []string{"LC_ALL=C", "PATH=/usr/bin:/bin", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "SYSTEMD_URLIFY=0"}
}

// Check runs journalctl once as the shipper would (this process's user)
// and says whether it may read the system journal: nil, ErrNoJournalctl,
// or an error wrapping ErrNoPermission with the fix.
func Check(ctx context.Context) error {
	path, err := FindJournalctl()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, "--no-pager", "--system", "--lines=1", "--output=export")
	cmd.Env, cmd.Dir = Env(), "/"
	var stderr tail
	stderr.max = 4 << 10
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err = cmd.Run()
	r := &Reader{stderr: &stderr}
	if err != nil || stderr.has(permissionHints()...) {
		return r.why(err)
	}
	return nil
}

// Reader is a running journalctl and the parser of its output.
type Reader struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	p      *Parser
	stderr *tail
	waited sync.Once // Wait is called once, by Next or Close
	exit   error     // journalctl's exit, once waited
}

// Open starts journalctl. It runs as this process's user: cis490 never
// adds privilege to read the journal.
func Open(ctx context.Context, o Options) (*Reader, error) {
	if o.Journalctl == "" {
		p, err := FindJournalctl()
		if err != nil {
			return nil, err
		}
		o.Journalctl = p
	}
	cmd := exec.CommandContext(ctx, o.Journalctl, o.Args()...)
	cmd.Env = Env()
	cmd.Dir = "/"
	// A shipper killed with SIGKILL must not leave journalctl following
	// the journal forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	r := &Reader{cmd: cmd, stderr: &tail{max: 4 << 10}}
	cmd.Stderr = r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoJournalctl
		}
		return nil, fmt.Errorf("start %s: %w", o.Journalctl, err)
	}
	r.out, r.p = out, NewParser(out)
	return r, nil
}

// Next returns the next entry, waiting for journald to write one. When
// journalctl ends (or says it may not read the journal) Next returns why.
func (r *Reader) Next() (Entry, error) {
	e, err := r.p.Next()
	if err == nil {
		if r.stderr.has(permissionHints()...) {
			// journalctl goes on with the user's own journal only: a
			// stream of that would look complete and is not.
			r.Close()
			return Entry{}, r.why(nil)
		}
		return e, nil
	}
	if errors.Is(err, ErrFormat) {
		r.Close()
		return Entry{}, fmt.Errorf("journalctl's output: %w", err)
	}
	return Entry{}, r.why(r.wait())
}

// wait reaps journalctl once, whoever asks first.
func (r *Reader) wait() error {
	r.waited.Do(func() { r.exit = r.cmd.Wait() })
	return r.exit
}

func permissionHints() []string {
	return []string{"insufficient permissions", "not seeing messages from other users and the system"}
}

// why explains journalctl's end from its exit and what it said.
func (r *Reader) why(exit error) error {
	said := strings.TrimSpace(r.stderr.String())
	if r.stderr.has(permissionHints()...) {
		return fmt.Errorf("%w (journalctl: %q); %s", ErrNoPermission, said, PermissionFix)
	}
	if r.stderr.has("Failed to seek to cursor") {
		return fmt.Errorf("%w (journalctl: %q)", ErrBadCursor, said)
	}
	if exit == nil {
		exit = errors.New("journalctl ended")
	}
	if said != "" {
		return fmt.Errorf("journalctl: %w: %s", exit, said)
	}
	return fmt.Errorf("journalctl: %w", exit)
}

// Close stops journalctl. It may be called while Next waits.
func (r *Reader) Close() {
	_ = r.cmd.Process.Kill() // an error: it has ended already
	_ = r.wait()
}

// tail keeps the first bytes journalctl writes to stderr (what it says
// first is why it stops), up to max.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func (t *tail) has(any ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range any {
		if bytes.Contains(t.b, []byte(s)) {
			return true
		}
	}
	return false
}

// Gap is what Resume found missing between the saved cursor and the first
// entry journalctl gave.
type Gap struct {
	Saved, First string
	// Lost counts the entries between them by sequence number: every
	// entry journald wrote, whether the filter would have shipped it or
	// not (an upper bound of the matching ones), and -1 when the two
	// cursors are of different sequences (the journal was started anew)
	// and the count is unknown.
	Lost int64
}

// Resume decides about the first entry read after starting at saved: drop
// it when it is the saved entry itself (shipped already); otherwise the
// saved entry is gone (rotated and vacuumed away) and gap says how much
// went with it. Only equality drops: journalctl 252 may start elsewhere
// without a word, and dropping a first entry that is not the saved one
// would lose it.
func Resume(saved string, first Entry) (drop bool, gap *Gap) {
	if saved == "" {
		return false, nil
	}
	if first.Cursor == saved {
		return true, nil
	}
	g := &Gap{Saved: saved, First: first.Cursor, Lost: -1}
	sid, sn, ok1 := Seqnum(saved)
	fid, fn, ok2 := Seqnum(first.Cursor)
	if ok1 && ok2 && sid == fid && fn > sn {
		g.Lost = int64(fn - sn - 1)
	}
	return false, g
}

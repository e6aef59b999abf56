package shipper

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/wire"
)

// fakeJournalctl acts as journalctl --follow --output=export over a
// folder of entries, one file each, named by its sequence number in hex:
// from --cursor's entry (or, when that one is gone, the next one there
// is, as journalctl 252 does) or from the first, and then every entry
// added. It notes its arguments in args.
const fakeJournalctl = `#!/bin/sh
dir= cursor=
for a; do
  case $a in --directory=*) dir=${a#--directory=};; --cursor=*) cursor=${a#--cursor=};; esac
done
echo "$*" >>"$dir/../args"
last=-1
if [ -n "$cursor" ]; then
  case $cursor in *";i="*) ;; *) echo "Failed to seek to cursor: Invalid argument" >&2; exit 1;; esac
  i=$(echo "$cursor" | sed 's/.*;i=\([0-9a-f]*\).*/\1/')
  last=$((0x$i - 1))
fi
while :; do
  for f in $(ls "$dir" | sort); do
    if [ $((0x$f)) -gt $last ]; then cat "$dir/$f"; last=$((0x$f)); fi
  done
  sleep 0.05
done
`

// journalRig is a fake journal, its journalctl, and a stream shipping it.
type journalRig struct {
	t    *testing.T
	dir  string // the entries
	bin  string // the fake journalctl
	cps  *Checkpoints
	recv *memReceiver
	logs lockedBuffer
	src  config.Journal
}

func newJournalRig(t *testing.T) *journalRig {
	root := t.TempDir()
	r := &journalRig{t: t, dir: filepath.Join(root, "journal"), bin: filepath.Join(root, "journalctl"), recv: &memReceiver{},
		src: config.Journal{Stream: "journal", Priority: "info", Since: "boot"}}
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.bin, []byte(fakeJournalctl), 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.cps, err = OpenCheckpoints(filepath.Join(root, "checkpoints")); err != nil {
		t.Fatal(err)
	}
	return r
}

// write adds entries from..to (inclusive); every seventh is debug, which
// the rig's filter (priority info) does not ship.
func (r *journalRig) write(from, to int) {
	for i := from; i <= to; i++ {
		e := fmt.Sprintf("__CURSOR=s=5eq;i=%x;b=b0\n__REALTIME_TIMESTAMP=%d\n_BOOT_ID=b0b0b0b0b0\nPRIORITY=%d\n_SYSTEMD_UNIT=lab.service\nSYSLOG_IDENTIFIER=lab\n_PID=42\nMESSAGE=entry %d\n\n",
			i, 1765116187000000+int64(i), prio(i), i)
		if err := os.WriteFile(filepath.Join(r.dir, fmt.Sprintf("%06x", i)), []byte(e), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

func prio(i int) int {
	if i%7 == 0 {
		return 7
	}
	return 6
}

// want is the stream that entries from..to ship as.
func want(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if prio(i) <= 6 {
			fmt.Fprintf(&b, "2025-12-07T14:03:07.%06dZ b0b0b0b0 info lab.service lab[42]: entry %d\n", i, i)
		}
	}
	return b.String()
}

// run ships until the returned stop is called.
func (r *journalRig) run() (stop func()) {
	js := newJournalStream(journalOptions{Name: "journal", Source: r.src, MaxBytes: 300, MaxWait: 20 * time.Millisecond,
		Retry: retryPolicy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond, Refused: 50 * time.Millisecond},
		Log:   slog.New(slog.NewTextHandler(&r.logs, nil)), Journalctl: r.bin, Directory: r.dir}, r.cps, r.recv)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { js.run(ctx) })
	return func() { cancel(); wg.Wait() }
}

func (r *journalRig) waitHeld(what, s string) {
	r.t.Helper()
	waitUntil(r.t, what, func() bool { return string(r.recv.held()) == s })
}

// TestJournalShipsEveryEntryOnce: across restarts, a lost checkpoint and
// a receiver that was down, the stream holds every matching entry once,
// in order, and journalctl is only ever asked to start at a cursor.
func TestJournalShipsEveryEntryOnce(t *testing.T) {
	r := newJournalRig(t)
	r.write(1, 40)
	stop := r.run()
	r.waitHeld("the first entries are shipped", want(1, 40))
	r.write(41, 50)
	r.waitHeld("entries written while it runs are shipped", want(1, 50))
	stop()

	r.write(51, 60)
	stop = r.run()
	r.waitHeld("a restart resumes after the last entry shipped", want(1, 60))
	stop()

	os.RemoveAll(r.cps.dir)
	os.MkdirAll(r.cps.dir, 0o700)
	r.write(61, 70)
	stop = r.run()
	r.waitHeld("without its checkpoint it resumes after the receiver's cursor", want(1, 70))
	r.recv.setDown(true)
	r.write(71, 90)
	time.Sleep(100 * time.Millisecond)
	r.recv.setDown(false)
	r.waitHeld("what waited while the receiver was down is shipped", want(1, 90))
	stop()

	args, _ := os.ReadFile(filepath.Join(r.dir, "..", "args"))
	for i, a := range strings.Split(strings.TrimSpace(string(args)), "\n") {
		if strings.Contains(a, "after-cursor") || (i > 0 && !strings.Contains(a, "--cursor=s=5eq;i=")) {
			t.Errorf("journalctl start %d: %q", i, a)
		}
	}
	if strings.Contains(r.logs.String(), "lost") {
		t.Errorf("a loss was reported where none was:\n%s", r.logs.String())
	}
}

// TestJournalVacuumedCursorIsALoss: when the last entry shipped and some
// after it are vacuumed while the shipper is stopped, it resumes from the
// oldest entry left and logs, once, how many were lost.
func TestJournalVacuumedCursorIsALoss(t *testing.T) {
	r := newJournalRig(t)
	r.write(1, 20)
	stop := r.run()
	r.waitHeld("the first entries are shipped", want(1, 20))
	stop()
	r.write(21, 30)
	for i := 15; i <= 24; i++ {
		os.Remove(filepath.Join(r.dir, fmt.Sprintf("%06x", i)))
	}
	stop = r.run()
	defer stop()
	r.waitHeld("it resumes at the oldest entry left", want(1, 20)+want(25, 30))
	if n := strings.Count(r.logs.String(), "lost 4 journal entries"); n != 1 {
		t.Errorf("the loss of entries 21-24 was said %d times:\n%s", n, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "fix=") {
		t.Errorf("the loss names no fix:\n%s", r.logs.String())
	}
	// The receiver is told once, on the next PUT, and the doctor can see it.
	r.recv.mu.Lock()
	losses := r.recv.losses
	r.recv.mu.Unlock()
	if len(losses) != 1 || losses[0].Entries != 4 || losses[0].Cause != wire.LostVacuumed {
		t.Errorf("the receiver was told %+v, want one loss of 4 vacuumed entries", losses)
	}
	waitUntil(t, "the checkpoint keeps the loss for the doctor, told", func() bool {
		cp, err := r.cps.Load("journal")
		return err == nil && cp.Lost == nil && cp.LastLoss != nil && cp.LastLoss.Entries == 4
	})
}

// TestJournalctlMissingIsSaidAndRetried: a journalctl that cannot be run
// is named once, and shipping starts when it can be.
func TestJournalctlMissingIsSaidAndRetried(t *testing.T) {
	r := newJournalRig(t)
	real := r.bin
	r.bin = filepath.Join(t.TempDir(), "journalctl")
	r.write(1, 5)
	stop := r.run()
	defer stop()
	waitUntil(t, "the failure is said", func() bool { return strings.Contains(r.logs.String(), "reading the journal failed; retrying") })
	os.Symlink(real, r.bin)
	r.waitHeld("it ships once journalctl runs", want(1, 5))
	if n := strings.Count(r.logs.String(), "reading the journal failed"); n != 1 {
		t.Errorf("the failure was said %d times:\n%s", n, r.logs.String())
	}
}

// TestJournalCursorRefusedIsALoss: a checkpoint whose cursor journalctl
// refuses (another machine's, or damaged) is a loss of unknown size, said
// once; the stream starts again where a first start would instead of
// retrying the cursor forever.
func TestJournalCursorRefusedIsALoss(t *testing.T) {
	r := newJournalRig(t)
	r.write(1, 5)
	if err := r.cps.Save(Checkpoint{Stream: "journal", Cursor: "not-a-cursor"}); err != nil {
		t.Fatal(err)
	}
	stop := r.run()
	defer stop()
	r.waitHeld("it starts again from the start", want(1, 5))
	if n := strings.Count(r.logs.String(), "lost an unknown number of journal entries"); n != 1 {
		t.Errorf("the refused cursor was said %d times:\n%s", n, r.logs.String())
	}
}

// TestJournalLossRefusedDoesNotStall: a receiver that cannot read the
// account of a vacuumed gap (400 bad-lost) gets the entries without it,
// as a file stream's do.
func TestJournalLossRefusedDoesNotStall(t *testing.T) {
	r := newJournalRig(t)
	r.write(1, 20)
	stop := r.run()
	r.waitHeld("the first entries are shipped", want(1, 20))
	stop()
	r.write(21, 30)
	for i := 15; i <= 24; i++ {
		os.Remove(filepath.Join(r.dir, fmt.Sprintf("%06x", i)))
	}
	r.recv.mu.Lock()
	r.recv.oldLost = true
	r.recv.mu.Unlock()
	stop = r.run()
	defer stop()
	r.waitHeld("the entries after the gap are shipped without the loss", want(1, 20)+want(25, 30))
	waitUntil(t, "nothing pending", func() bool {
		cp, err := r.cps.Load("journal")
		return err == nil && cp.Lost == nil && cp.LastLoss != nil
	})
}

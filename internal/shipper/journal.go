package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/journal"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// A journal stream's generation headers carry its cursor: every PUT names
// as its generation JournalGenPrefix and the __CURSOR of the last entry in
// its bytes, and X-Cis490-Generation-Start the offset where the shipper's
// current unbroken read of the journal began (0, or where it went on after
// entries were lost). The receiver keeps both with the bytes, durable in
// the same write, and HEAD returns those of the PUT that ended at the
// stream's length: a shipper that lost its checkpoint resumes right after
// the last entry the receiver holds, and any receiver that stores
// generations (every one so far) does this without knowing about journals.
const JournalGenPrefix = "journal;"

// journalGen is the generation a batch ending at cursor is sent with:
// plain "journal" when the cursor cannot be carried (journald's are ~150
// printable bytes; a longer or odd one is remembered only by the
// shipper's own checkpoint).
func journalGen(cursor string) string {
	g := JournalGenPrefix + cursor
	if cursor == "" || !wire.ValidGeneration(g) {
		return "journal"
	}
	return g
}

// journalOptions configure a journal stream.
type journalOptions struct {
	Name     string
	Source   config.Journal
	MaxBytes int
	MaxWait  time.Duration
	Retry    retryPolicy
	Log      *slog.Logger
	// Journalctl and Directory override where journalctl is and which
	// journal it reads: for tests.
	Journalctl, Directory string
}

// journalStream ships one [[journal]] source as one stream: journalctl's
// entries, filtered and formatted, in batches that end at an entry.
type journalStream struct {
	opt    journalOptions
	filter journal.Filter
	cps    *Checkpoints
	send   Sender
	log    *slog.Logger
	onSent func()
	// notes tells failures and returns the way file streams do (once,
	// with the receiver's sentence); it ships nothing itself.
	notes *stream

	cp      Checkpoint // acknowledged: the length and the cursor ending it
	read    string     // the cursor of the last entry read: journalctl restarts there
	pending []byte     // lines read, not yet acknowledged
	ends    []lineEnd  // where each pending line ends, and its entry's cursor
	first   time.Time  // when the first pending line was read
	denied  bool       // the journal was unreadable: said once, with the fix
	failing string     // the last journalctl failure said, to say each once
}

// lineEnd is the end of a pending line (an offset into pending) and the
// cursor of its entry.
type lineEnd struct {
	end    int
	cursor string
}

func newJournalStream(opt journalOptions, cps *Checkpoints, send Sender) *journalStream {
	if opt.Retry == (retryPolicy{}) {
		opt.Retry = defaultRetry()
	}
	prio, _ := journal.ParsePriority(opt.Source.Priority) // config.Resolve defaults it, Validate checks it
	return &journalStream{opt: opt, cps: cps, send: send, log: opt.Log,
		filter: journal.NewFilter(opt.Source.Units, opt.Source.Identifiers, prio),
		notes:  newStream(streamOptions{Name: opt.Name, MaxBytes: opt.MaxBytes, Retry: opt.Retry, Log: opt.Log}, cps, send, newBudget(0))}
}

// run ships until ctx ends. Pending lines are not flushed at the end: the
// next start reads them again after the saved cursor.
func (j *journalStream) run(ctx context.Context) {
	for {
		err := j.setup(ctx, false)
		if err == nil {
			break
		}
		if !sleep(ctx, j.notes.retry("cannot start the journal stream yet; retrying with backoff", err), nil, nil) {
			return
		}
	}
	j.notes.reached()
	j.log.Info("shipping the journal", "from_offset", j.cp.Length(), "resuming", j.read != "", "since", j.opt.Source.Since)
	backoff := time.Duration(0)
	for {
		started := time.Now()
		err := j.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = 0 // it ran a while: a new failure starts the backoff over
		}
		backoff = min(max(2*backoff, j.opt.Retry.Min), j.opt.Retry.Max)
		j.failed(err, backoff)
		if !sleep(ctx, backoff, nil, nil) {
			return
		}
	}
}

// failed says why journalctl stopped, each cause once, with its fix.
func (j *journalStream) failed(err error, retry time.Duration) {
	switch {
	case errors.Is(err, journal.ErrNoPermission):
		if !j.denied {
			j.denied = true
			j.log.Error("the shipper may not read the system journal; it ships once it can", "err", err, "fix", journal.PermissionFix)
		}
	case errors.Is(err, journal.ErrBadCursor):
		// Not a cursor of this journal: what lies between it and now
		// cannot be known. Start again where a first start would.
		j.lost("an unknown number of journal entries", -1, wire.LostVacuumed,
			fmt.Sprintf("journalctl cannot seek to the saved cursor (%v): the checkpoint or the receiver's stream is not from this machine's journal (reinstalled, or its journal deleted), or it is damaged", err))
		j.read = ""
	case errors.Is(err, errResync):
		j.log.Warn("the receiver's stream does not end where this shipper's does; asking it where it stands", "err", err)
	default:
		if msg := err.Error(); msg != j.failing {
			j.failing = msg
			j.log.Error("reading the journal failed; retrying", "err", err, "retry_in", retry.Round(time.Millisecond))
		}
	}
}

// setup finds where to resume: the checkpoint, else (or when the
// receiver's stream does not match it: fromReceiver) the receiver's HEAD.
func (j *journalStream) setup(ctx context.Context, fromReceiver bool) error {
	if !fromReceiver {
		cp, err := j.cps.Load(j.opt.Name)
		if err == nil && cp.Path == "" {
			j.cp, j.read = cp, cp.Cursor
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%w: it is a file's, not a journal's", ErrNoCheckpoint)
		}
		if j.notes.trouble == troubleNone { // said once, not on every retry of the HEAD
			j.log.Info("no usable checkpoint; asking the receiver where the stream stands", "why", err)
		}
	}
	st, err := j.send.Head(ctx, j.opt.Name)
	if err != nil {
		return fmt.Errorf("resync stream %s: %w", j.opt.Name, err)
	}
	j.cp = Checkpoint{Stream: j.opt.Name, GenStart: st.Length}
	j.read = ""
	if cursor, ok := strings.CutPrefix(st.Gen, JournalGenPrefix); ok && st.Found {
		j.cp.GenStart, j.cp.Acked, j.cp.Cursor = st.GenStart, st.Length-st.GenStart, cursor
		j.read = cursor
	} else if st.Found && st.Length > 0 {
		j.log.Warn("the receiver holds this stream but not the journal cursor that ends it (its bytes came from something else); starting where since says, after them: entries may repeat",
			"receiver_length", st.Length, "since", j.opt.Source.Since)
	}
	return j.save()
}

func (j *journalStream) save() error {
	j.cp.Stream, j.cp.Path = j.opt.Name, ""
	return j.cps.Save(j.cp)
}

// errResync means the receiver's stream does not end at an entry this
// shipper holds: it starts over from the receiver's HEAD.
var errResync = errors.New("resync")

type entryOrErr struct {
	e   journal.Entry
	err error
}

// follow runs journalctl from j.read and ships what it gives until it
// ends, ctx ends, or the stream must be resynced.
func (j *journalStream) follow(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o := journal.Options{Journalctl: j.opt.Journalctl, Directory: j.opt.Directory,
		Cursor: j.read, AllHistory: j.opt.Source.Since == "all", UserJournals: j.opt.Source.UserJournals}
	if j.read == "" && !o.AllHistory && j.opt.Directory == "" {
		b, err := journal.BootTime()
		if err != nil {
			return err
		}
		o.Booted = b
	}
	r, err := journal.Open(rctx, o)
	if err != nil {
		return err
	}
	defer r.Close()
	// One reader goroutine: while a batch is being sent nothing is read,
	// and journalctl waits on the full pipe (memory stays bounded).
	entries := make(chan entryOrErr)
	go func() {
		for {
			e, err := r.Next()
			select {
			case entries <- entryOrErr{e, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	resumeFrom := j.read
	first := true
	var timer <-chan time.Time
	for {
		if len(j.pending) > 0 && timer == nil {
			timer = time.After(max(0, j.opt.MaxWait-time.Since(j.first)))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
			timer = nil
			if err := j.flush(ctx); err != nil {
				return err
			}
			continue
		case got := <-entries:
			if got.err != nil {
				return got.err
			}
			if j.denied || j.failing != "" {
				j.log.Info("reading the journal again")
				j.denied, j.failing = false, ""
			}
			e := got.e
			if first {
				first = false
				drop, gap := journal.Resume(resumeFrom, e)
				if drop {
					continue
				}
				if gap != nil {
					j.gap(gap)
				}
			}
			j.read = e.Cursor
			if !j.filter.Match(e) {
				continue
			}
			if len(j.pending) == 0 {
				j.first = time.Now()
			}
			j.pending = append(j.pending, journal.Line(e)...)
			j.ends = append(j.ends, lineEnd{len(j.pending), e.Cursor})
			if len(j.pending) >= j.opt.MaxBytes {
				timer = nil
				if err := j.flush(ctx); err != nil {
					return err
				}
			}
		}
	}
}

// gap reports entries lost between the saved cursor and the first entry
// journalctl gave, and begins a new generation after them.
func (j *journalStream) gap(g *journal.Gap) {
	if g.Lost == 0 {
		return // only the saved entry itself was vacuumed
	}
	what := fmt.Sprintf("%d journal entries", g.Lost)
	if g.Lost < 0 {
		what = "an unknown number of journal entries (the journal was started anew)"
	}
	j.lost(what, g.Lost, wire.LostVacuumed,
		"the journal was rotated and vacuumed past the last entry shipped before the shipper read on (it was stopped, or the receiver unreachable, for longer than the journal keeps entries)")
}

// lost is where a journal stream reports entries gone for good: what (in
// words), n (entries; -1 unknown), the cause (wire.Lost*) and why. It logs
// one error with the fix, keeps the loss in the checkpoint until a PUT
// carrying it (X-Cis490-Lost) is acknowledged, as file streams do, and
// begins a new generation after the gap.
func (j *journalStream) lost(what string, n int64, cause, why string) {
	j.log.Error("lost "+what+" before they were shipped", "stream", j.opt.Name, "entries", n, "cause", cause, "why", why, "fix", wire.LossFix(cause))
	l := Loss{At: time.Now().UTC(), Entries: max(n, 0), Cause: cause, What: "journal entries after cursor " + j.read}
	j.cp.recordLoss(l)
	if len(j.pending) == 0 {
		j.cp.GenStart, j.cp.Acked = j.cp.Length(), 0
	}
	if err := j.save(); err != nil {
		j.log.Warn("save checkpoint", "err", err)
	}
}

// flush sends pending, a batch at a time ending at a line, until it is
// all acknowledged; failures back off. It returns only errResync or nil
// (ctx ended).
func (j *journalStream) flush(ctx context.Context) error {
	for len(j.pending) > 0 {
		k := len(j.ends) - 1
		for k > 0 && j.ends[k].end > j.opt.MaxBytes {
			k--
		}
		data := j.pending[:j.ends[k].end]
		off := j.cp.Length()
		gen := journalGen(j.ends[k].cursor)
		n, err := j.send.PutLogs(ctx, j.opt.Name, off, transport.Gen{ID: gen, Start: j.cp.GenStart, Lost: j.cp.wireLoss()}, data)
		var e *transport.Error
		switch {
		case err == nil, errors.As(err, &e) && e.Status == http.StatusConflict && e.HasLength:
			if err != nil {
				n = e.Length
			}
			j.notes.reached()
			if (err != nil && n == off) || !j.ackedTo(n) {
				j.pending, j.ends = nil, nil
				if err := j.setup(ctx, true); err != nil {
					return fmt.Errorf("%w: %v", errResync, err)
				}
				return fmt.Errorf("%w: the receiver's stream is %d bytes long, which is not where a line this shipper holds ends", errResync, n)
			}
			if err == nil {
				j.cp.Lost = nil // the receiver's index has it now
			}
			if err := j.save(); err != nil {
				j.log.Warn("save checkpoint", "err", err)
			}
			if j.onSent != nil {
				j.onSent()
			}
		case j.cp.dropRefusedLoss(err, j.log):
			if err := j.save(); err != nil {
				j.log.Warn("save checkpoint", "err", err)
			}
		case errors.As(err, &e) && e.Status == http.StatusRequestEntityTooLarge && k > 0:
			j.opt.MaxBytes = max(1, len(data)/2)
			j.notes.refused(troubleNone, fmt.Sprintf("the receiver refused a %s batch as too large; sending at most %d bytes", human.Bytes(int64(len(data))), j.opt.MaxBytes), e)
		default:
			if ctx.Err() != nil {
				return nil
			}
			if !sleep(ctx, j.notes.retry("ship failed; retrying with backoff", err), nil, nil) {
				return nil
			}
		}
	}
	return nil
}

// ackedTo takes in the receiver's length n: the lines ending at or before
// it are acknowledged, and the cursor of the last is saved with them.
// False when n is not where a pending line ends (nor the acknowledged
// length).
func (j *journalStream) ackedTo(n int64) bool {
	done := n - j.cp.Length()
	if done == 0 {
		return true
	}
	for k, le := range j.ends {
		if int64(le.end) != done {
			continue
		}
		j.cp.Acked += done
		j.cp.Cursor = le.cursor
		j.pending = j.pending[le.end:]
		j.ends = j.ends[k+1:]
		for i := range j.ends {
			j.ends[i].end -= le.end
		}
		if len(j.pending) == 0 {
			j.pending, j.ends = nil, nil
		}
		return true
	}
	return false
}

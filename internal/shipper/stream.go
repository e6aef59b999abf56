package shipper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/cis490/cis490/internal/transport"
)

// Sender is the part of the transport a stream ships through.
type Sender interface {
	PutLogs(ctx context.Context, stream string, offset int64, gen transport.Gen, data []byte) (int64, error)
	Head(ctx context.Context, stream string) (transport.StreamState, error)
}

// streamOptions configure one stream.
type streamOptions struct {
	Name     string
	Path     string
	MaxBytes int           // a PUT when this much is ready
	MaxWait  time.Duration // or this long after the first unsent byte
	Poll     time.Duration // how often to look for new bytes
	Retry    retryPolicy
	Log      *slog.Logger
}

// retryPolicy is how long a stream waits after a failed request. Tests
// shorten it; the shipper uses defaultRetry's (README, "Refusals").
type retryPolicy struct {
	Min, Max time.Duration // network errors and receiver faults: exponential from Min up to Max, full jitter
	Refused  time.Duration // refused credentials or code: this, plus up to a fifth of it
}

func defaultRetry() retryPolicy {
	return retryPolicy{Min: time.Second, Max: 5 * time.Minute, Refused: 5 * time.Minute}
}

// stream ships one source path as one stream, in order, one PUT at a time.
type stream struct {
	opt    streamOptions
	fl     *follower
	cps    *Checkpoints
	send   Sender
	log    *slog.Logger
	onSent func() // called after every acknowledged PUT (the heartbeat clock)

	cp      Checkpoint // what the receiver has acknowledged
	pending []byte     // read, not yet acknowledged: cp.Gen from file offset cp.Acked
	carry   *Chunk     // the first chunk of the next generation, held back
	// mem is the shipper-wide budget pending and carry are held against;
	// starved is set when it granted less than wanted, and closes when
	// bytes are given back.
	mem     *budget
	starved <-chan struct{}
	first   time.Time // when the first pending byte was read
	backoff time.Duration
	said    string        // the last failure logged, to log each once
	trouble trouble       // what that failure was, until a request succeeds
	wake    chan struct{} // poked when the file (or a rotated copy) changes
	missing bool          // its file was not there: say so once, and when it appears
	denied  bool          // its file could not be read: said once, with the fix
	behind  catchUp       // a backlog being sent, to say when it is
}

// poke wakes the stream to look at its file now.
func (s *stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func newStream(opt streamOptions, cps *Checkpoints, send Sender, mem *budget) *stream {
	if opt.Retry == (retryPolicy{}) {
		opt.Retry = defaultRetry()
	}
	return &stream{opt: opt, fl: newFollower(opt.Path, opt.Log), cps: cps, send: send, log: opt.Log, wake: make(chan struct{}, 1), mem: mem}
}

// held is what the stream holds of the budget.
func (s *stream) held() int {
	n := len(s.pending)
	if s.carry != nil {
		n += len(s.carry.Data)
	}
	return n
}

// drop forgets pending and carry, giving their bytes back.
func (s *stream) drop() {
	s.mem.give(s.held())
	s.pending, s.carry = nil, nil
}

// setup finds where to resume: the checkpoint, or else the receiver.
func (s *stream) setup(ctx context.Context) error {
	// A file this user may not read is not a lost one: wait until it can
	// be read rather than take its generation for gone.
	if f, err := os.Open(s.opt.Path); err == nil {
		f.Close()
	} else if errors.Is(err, fs.ErrPermission) {
		return err
	}
	cp, err := s.cps.Load(s.opt.Name)
	if err == nil {
		err = s.fits(cp)
	}
	if err == nil {
		s.cp = cp
		lost, err := s.fl.resumeAfter(cp.Gen, cp.Acked, cp.Seen, cp.GenMod)
		if err == nil && (lost > 0 || s.fl.cur == nil || s.fl.cur.id != cp.Gen) {
			s.newGeneration()
		}
		// Saved with the loss, the checkpoint no longer names the gone
		// generation: a restart does not count it again.
		s.noteLosses()
		return err
	}
	if s.trouble == troubleNone { // said once, not on every retry of the HEAD
		s.log.Info("no usable checkpoint; asking the receiver where the stream stands", "why", err)
	}
	st, err := s.send.Head(ctx, s.opt.Name)
	if err != nil {
		return fmt.Errorf("resync stream %s: %w", s.opt.Name, err)
	}
	if !st.Found {
		s.cp = Checkpoint{Stream: s.opt.Name, Path: s.opt.Path}
		return s.fl.start()
	}
	if id, ok := ParseID(st.Gen); ok {
		if g, found := s.fl.find(id); found {
			g.close()
			s.cp = Checkpoint{Stream: s.opt.Name, Path: s.opt.Path, Gen: id, GenStart: st.GenStart, Acked: st.Length - st.GenStart}
			_, err := s.fl.resume(id, s.cp.Acked, 0)
			return err
		}
	}
	// The receiver's generation is no longer on disk: what is at the path
	// now is a new generation, after everything the receiver holds.
	s.cp = Checkpoint{Stream: s.opt.Name, Path: s.opt.Path, GenStart: st.Length}
	return s.fl.start()
}

// fits checks a checkpoint against its generation's file, when that is
// still on disk: bytes acknowledged beyond the file's end cannot be. (Earlier
// releases could save a new generation with the previous one's count, just
// before its first PUT; resuming from such a checkpoint would skip the
// generation.) Such a checkpoint is not used: the receiver says where the
// stream stands.
func (s *stream) fits(cp Checkpoint) error {
	g, ok := s.fl.find(cp.Gen)
	if !ok {
		return nil // gone: resume reports the loss
	}
	size, err := g.size()
	g.close()
	if err == nil && size < cp.Acked {
		return fmt.Errorf("%w: it counts %d bytes of generation %s acknowledged, and the file holds %d",
			ErrNoCheckpoint, cp.Acked, cp.Gen.ID(), size)
	}
	return nil
}

// newGeneration records that the follower's current file begins a new
// generation at the end of what was acknowledged.
func (s *stream) newGeneration() {
	s.cp.GenStart = s.cp.Length()
	s.cp.Acked = 0
	s.cp.Gen = Ident{}
	s.cp.Seen, s.cp.GenMod = 0, time.Time{}
	if s.fl.cur != nil {
		s.cp.Gen = s.fl.cur.id
	}
}

// fill reads what is ready into pending, up to MaxBytes, never mixing two
// generations in one batch.
func (s *stream) fill(now time.Time) error {
	s.starved = nil
	for s.carry == nil && len(s.pending) < s.opt.MaxBytes {
		want := s.opt.MaxBytes - len(s.pending)
		grant, more := s.mem.take(want)
		if grant < want {
			s.starved = more // other streams hold the budget: wait for some back
		}
		if grant == 0 {
			return nil
		}
		c, err := s.fl.next(grant)
		s.noteLosses()
		s.mem.give(grant - len(c.Data))
		if errors.Is(err, errNothing) {
			s.starved = nil // nothing to read anyway
			return nil
		}
		if err != nil {
			return err
		}
		if c.Gen != s.cp.Gen || c.Offset != s.cp.Acked+int64(len(s.pending)) {
			if len(s.pending) > 0 {
				s.carry = &c
				return nil
			}
			s.startGen(c)
		}
		if len(s.pending) == 0 {
			s.first = now
			if s.pending == nil {
				s.pending = c.Data // the read buffer becomes the batch: no copy
				continue
			}
		}
		s.pending = append(s.pending, c.Data...)
	}
	return nil
}

// startGen makes chunk c's generation the current one: it begins where the
// acknowledged stream ends.
func (s *stream) startGen(c Chunk) {
	if c.Gen == s.cp.Gen {
		s.cp.Acked = c.Offset
		return
	}
	s.cp.GenStart = s.cp.Length()
	s.cp.Gen = c.Gen
	// Acked counts bytes of the new generation: none of them is
	// acknowledged yet. It must be set before the checkpoint is saved; the
	// previous generation's count saved with the new generation would put
	// the stream's length ahead of the receiver's, and a restart would
	// skip that much of the new generation (all of it when shorter).
	s.cp.Acked = c.Offset
	// Remember the generation before its first byte is acknowledged:
	// if the shipper dies now and the file is rotated, the restart must
	// still find it (among the rotated copies), not skip it.
	if err := s.save(); err != nil {
		s.log.Warn("save checkpoint", "err", err)
	}
}

// due reports whether pending should be sent now: a full batch, a
// generation ending, max_wait passed, or a batch that cannot grow because
// the budget is spent (sending it is what gives the budget back).
func (s *stream) due(now time.Time) bool {
	return len(s.pending) > 0 && (len(s.pending) >= s.opt.MaxBytes || s.carry != nil ||
		now.Sub(s.first) >= s.opt.MaxWait || s.starved != nil)
}

// flush sends pending once. It returns how long to wait before trying
// again: 0 after success.
func (s *stream) flush(ctx context.Context) (time.Duration, error) {
	off := s.cp.Length()
	data := s.pending[:min(len(s.pending), s.opt.MaxBytes)]
	n, err := s.send.PutLogs(ctx, s.opt.Name, off, transport.Gen{ID: s.cp.Gen.ID(), Start: s.cp.GenStart, Lost: s.cp.wireLoss()}, data)
	var e *transport.Error
	switch {
	case err == nil:
		s.cp.Lost = nil // the receiver's index has it now
		s.acked(n)
		return 0, s.save()
	case errors.As(err, &e) && e.Status == http.StatusConflict && e.HasLength:
		return 0, s.resync(e.Length)
	case s.cp.dropRefusedLoss(err, s.log):
		return 0, s.save()
	case errors.As(err, &e) && e.Status == http.StatusRequestEntityTooLarge && len(data) > 1:
		// The receiver takes less than batch.max_bytes: send smaller.
		s.opt.MaxBytes = max(1, len(data)/2)
		s.refused(troubleNone, fmt.Sprintf("the receiver refused a %d-byte batch as too large; sending at most %d", len(data), s.opt.MaxBytes), e)
		return 0, nil
	}
	return s.retry("ship failed; retrying with backoff", err), nil
}

// retry says once what a failed request (HEAD or PUT: a new host's first
// is a HEAD) means and returns how long to wait before the next. A
// refusal retried sooner than documented would only fill the log and the
// receiver's index; every wait is jittered, so a fleet refused or cut off
// at once does not come back at once.
func (s *stream) retry(what string, err error) time.Duration {
	var e *transport.Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusUpgradeRequired:
		s.refused(troubleRefused, "this host runs code the receiver no longer accepts; its logs wait here until autoupdate installs a newer release", e)
		return jitter(s.opt.Retry.Refused)
	case errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden):
		s.refused(troubleRefused, "the receiver refused this host's credentials; its logs wait here", e)
		return jitter(s.opt.Retry.Refused)
	case errors.As(err, &e) && e.RetryAfter > 0:
		s.refused(troubleFailed, "the receiver asked to retry later", e)
		return e.RetryAfter
	}
	// Network trouble or a receiver error: capped exponential backoff with
	// full jitter.
	s.backoff = min(max(2*s.backoff, s.opt.Retry.Min), s.opt.Retry.Max)
	if s.said != what+err.Error() {
		s.said, s.trouble = what+err.Error(), troubleFailed
		s.log.Warn(what, "err", err, "backoff_up_to", s.opt.Retry.Max)
	}
	return time.Duration(rand.Int64N(int64(s.backoff))) + 100*time.Millisecond
}

// refused logs a refusal once, and again only when the receiver's answer
// changes.
func (s *stream) refused(t trouble, what string, e *transport.Error) {
	if key := what + e.Reason + e.Message; key != s.said {
		s.log.Warn(what, "status", e.Status, "reason", e.Reason, "receiver_says", e.Message)
		s.said, s.trouble = key, t
	}
}

// jitter is d plus up to a fifth of it: never sooner than documented.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// acked takes in the receiver's length after a PUT of pending.
func (s *stream) acked(length int64) {
	s.reached() // before the bytes are counted sent: a return says all that waited
	done := min(int64(len(s.pending)), max(0, length-s.cp.Length()))
	s.pending = s.pending[done:]
	s.mem.give(int(done))
	s.cp.Acked += done
	if len(s.pending) == 0 {
		s.pending = nil
		if s.carry != nil {
			c := *s.carry
			s.carry = nil
			s.startGen(c)
			s.pending = append(s.pending, c.Data...)
			s.first = time.Now()
		}
	}
	s.caughtUp()
	if s.onSent != nil {
		s.onSent()
	}
}

// resync follows the receiver's length after a 409: bytes it already holds
// are dropped from pending; if it stands elsewhere in this generation, the
// follower rereads from there.
func (s *stream) resync(length int64) error {
	s.reached()
	start := s.cp.Length()
	end := start + int64(len(s.pending))
	switch {
	case length >= start && length <= end:
		s.acked(length)
		return s.save()
	case length >= s.cp.GenStart && s.fl.cur != nil && s.fl.cur.id == s.cp.Gen:
		s.log.Warn("the receiver stands elsewhere in this stream; rereading from there",
			"receiver_length", length, "shipper_length", start)
		s.drop()
		s.cp.Acked = length - s.cp.GenStart
		s.fl.cur.read = s.cp.Acked
		return s.save()
	default:
		// The receiver's length is outside the file we read: continue the
		// current file as a new generation after what the receiver holds.
		s.log.Warn("the receiver's length does not fit this file; continuing after it",
			"receiver_length", length)
		s.drop()
		s.cp = Checkpoint{Stream: s.opt.Name, Path: s.opt.Path, GenStart: length, Lost: s.cp.Lost, LastLoss: s.cp.LastLoss}
		if s.fl.cur != nil {
			s.cp.Gen = s.fl.cur.id
			s.fl.cur.read = 0
		}
		return s.save()
	}
}

func (s *stream) save() error {
	if s.fl.cur != nil && s.fl.cur.id == s.cp.Gen {
		if n, err := s.fl.cur.size(); err == nil {
			s.cp.Seen = n
		}
		if st, err := s.fl.cur.f.Stat(); err == nil {
			s.cp.GenMod = st.ModTime()
		}
	}
	s.cp.Stream, s.cp.Path = s.opt.Name, s.opt.Path
	return s.cps.Save(s.cp)
}

// run ships until ctx ends; pending bytes are flushed first when possible.
func (s *stream) run(ctx context.Context) error {
	defer s.fl.close()
	defer s.drop()
	for {
		err := s.setup(ctx)
		if err == nil {
			break
		}
		wait, wake := s.opt.Poll, s.wake // a chmod wakes the stream
		if errors.Is(err, fs.ErrPermission) {
			s.unreadable(err)
		} else {
			wait, wake = s.retry("cannot start the stream yet; retrying with backoff", err), nil
		}
		if !sleep(ctx, wait, wake, nil) {
			return nil
		}
	}
	s.announce()
	s.reached()
	s.startCatchUp()
	for {
		now := time.Now()
		if err := s.fill(now); errors.Is(err, fs.ErrPermission) {
			s.unreadable(err)
		} else if err != nil {
			s.log.Warn("read source", "err", err)
		}
		if s.missing && s.fl.cur != nil {
			s.announce()
			s.startCatchUp()
		}
		wait, wake := s.opt.Poll, s.wake
		if s.due(now) {
			d, err := s.flush(ctx)
			if err != nil {
				return err
			}
			if d == 0 {
				continue
			}
			// Backing off: new writes must not cut the wait short, or a
			// busy file would retry a dead receiver on every line.
			wait, wake = d, nil
		} else if len(s.pending) > 0 {
			wait = min(wait, s.opt.MaxWait-now.Sub(s.first))
		}
		if wake != nil && s.fl.cur != nil && !s.fl.rotated.IsZero() {
			// Waiting out late writes to a rotated file: look again when
			// that wait ends, not at the next (slow) fallback poll.
			wait = min(wait, RotationGrace/4)
		}
		if d := s.fl.settleWait(); wake != nil && d > 0 {
			wait = min(wait, d) // a file without a first line settles then
		}
		var more <-chan struct{}
		if wake != nil {
			more = s.starved // budget given back: read on
		}
		if !sleep(ctx, wait, wake, more) {
			return nil
		}
	}
}

// announce says, once the stream knows where it stands, what it ships
// from where, or that its file is not there (a typo in the config looks
// just like a log not written yet, so it is said, not left silent).
func (s *stream) announce() {
	if s.fl.cur != nil {
		s.missing, s.denied = false, false
		s.log.Info("shipping", "path", s.opt.Path, "from_offset", s.cp.GenStart+s.cp.Acked)
		return
	}
	s.missing = true
	if s.denied {
		return // said, with the fix
	}
	_, err := os.Stat(s.opt.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.log.Warn("the source does not exist (yet); it ships once it appears: check the path in lab-host.toml if it never will", "path", s.opt.Path)
	case err != nil:
		s.log.Warn("the source cannot be looked at; it ships once it can (cis490 doctor names what this user may not read)", "path", s.opt.Path, "err", err)
	default: // there, but empty: nothing to tell apart yet
		s.log.Info("the source is empty; it ships once it is written to", "path", s.opt.Path)
	}
}

// sleep waits d, or until wake or more fires (a nil channel never does);
// false when ctx ended.
func sleep(ctx context.Context, d time.Duration, wake, more <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	case <-more:
	}
	return true
}

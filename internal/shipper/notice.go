package shipper

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"time"

	"github.com/cis490/cis490/internal/human"
)

// What a stream tells the person reading the shipper's log (journalctl -u
// cis490-shipper is the first thing a new user reads): each trouble once,
// with its fix, and when it is over; how far behind a stream is and when
// it has caught up, so that "still catching up" is not taken for "lost".

// trouble is the kind of failure a stream last logged.
type trouble int

const (
	troubleNone    trouble = iota
	troubleFailed          // unreachable, or the receiver failed or asked to wait
	troubleRefused         // the receiver refused this host's credentials, code or batch
)

// catchUp times a backlog being sent, in the stream's offsets: it is sent
// when the receiver holds up to its end, whatever was written after it (a
// busy log always has a little more).
type catchUp struct {
	since    time.Time // zero: not behind
	from, to int64     // the stream's length then, and the backlog's end
}

// reached records that the receiver answered as it should: a failure
// logged before is over, which is said, with how much waits to be sent.
func (s *stream) reached() {
	t := s.trouble
	s.backoff, s.said, s.trouble = 0, "", troubleNone
	if t == troubleNone {
		return
	}
	what := "receiver reachable again"
	if t == troubleRefused {
		what = "the receiver takes this host's logs again"
	}
	n := s.waiting()
	s.log.Info(fmt.Sprintf("%s; %s waiting", what, human.Bytes(n)), "bytes", n)
	s.track(n)
}

// startCatchUp says how far behind the stream starts, when it is.
func (s *stream) startCatchUp() {
	if n := s.waiting(); s.track(n) {
		s.log.Info(fmt.Sprintf("%s to send (catching up)", human.Bytes(n)), "bytes", n)
	}
}

// track starts timing a backlog of n bytes when it is more than a batch
// (less is what any stream has in flight) and none is being timed.
func (s *stream) track(n int64) bool {
	if n < int64(s.opt.MaxBytes) || !s.behind.since.IsZero() {
		return false
	}
	s.behind = catchUp{since: time.Now(), from: s.cp.Length(), to: s.cp.Length() + n}
	return true
}

// caughtUp says, after an acknowledgement, when a backlog has been sent.
func (s *stream) caughtUp() {
	if s.behind.since.IsZero() || s.cp.Length() < s.behind.to {
		return
	}
	d := time.Since(s.behind.since)
	took := human.Duration(d)
	if d < time.Second {
		took = d.Round(time.Millisecond).String()
	}
	sent := s.cp.Length() - s.behind.from
	s.log.Info(fmt.Sprintf("caught up, %s sent in %s", human.Bytes(sent), took), "bytes", sent, "took", d)
	s.behind = catchUp{}
}

// waiting is how many bytes the receiver does not have yet, as far as the
// stream can tell cheaply: those it holds read, the rest of the file it
// reads, and the file at the path when that is another one (a rotated
// generation being finished). Rotated copies between the two are not
// counted, as in Status.
func (s *stream) waiting() int64 {
	n := int64(s.held())
	if s.fl.cur == nil {
		return n
	}
	st, err := s.fl.cur.f.Stat()
	if err != nil {
		return n
	}
	n += max(0, st.Size()-s.fl.cur.read)
	if at, err := os.Stat(s.opt.Path); err == nil && !os.SameFile(at, st) {
		n += at.Size()
	}
	return n
}

// unreadable says once that the source cannot be read, and the fix; the
// stream ships it once it can (announce says so).
func (s *stream) unreadable(err error) {
	if s.denied {
		return
	}
	s.denied, s.missing = true, true
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is its own attribute: named once
	}
	s.log.Warn("the shipper cannot read the source; it ships once it can", "path", s.opt.Path, "err", err,
		"fix", ReadableFix(currentUser()))
}

// currentUser names the user this process runs as, for a fix to name.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "this user"
}

// ReadableFix is how to let user read a log (FILE) the shipper, which runs
// unprivileged, may not: one wording, which the shipper logs beside the
// path and the doctor shows beside its list of such files.
func ReadableFix(user string) string {
	return "let the shipper's user read it: give it to group adm (chgrp adm FILE; chmod g+r FILE; and in logrotate's create line) or setfacl -m u:" + user + ":r FILE"
}

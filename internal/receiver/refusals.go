package receiver

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
)

// A flood of requests without credentials must not fill the disk with
// index lines: the refusals of callers without a certificate of this fleet
// are folded into one line per (remote address, reason, minute). The first
// refusal of a minute gets its line at once, as every request does; the
// ones after it are counted and written as one line with a count key when
// the minute is over (the stated exception to one line per request). A
// host with its certificate but a bad token still gets a line per request:
// that is a symptom of that host. A host over its request rate is folded
// the same way, per host: its flood must not cost disk either.

// maxRefusalKeys bounds the open minutes kept; past it, refusals from
// further remotes share one key per reason, so a flood from many addresses
// costs no more memory.
const maxRefusalKeys = 4096

type refusalKey struct {
	remote, reason string
	minute         int64
}

type refusalRun struct {
	last  index.Line // the newest folded refusal
	count int        // refusals folded since the first
}

type refusals struct {
	mu   sync.Mutex
	open map[refusalKey]*refusalRun
}

// folds reports whether l, the line of a request about to be answered,
// is counted into its minute's summary instead of written now.
func (f *refusals) folds(l *index.Line) bool {
	var remote string
	switch {
	case l.Reason == wire.ReasonRate:
		// A host over its rate: the first refusal of a minute shows it.
		remote = "host " + l.CertHost
	case l.Auth || l.CertHost != "" || l.Admin != "" || l.Status < 400 || l.Status >= 500:
		// A verified certificate names its host (or admin): its refusals
		// are that host's symptoms, which the detector must see at once.
		return false
	default:
		var err error
		if remote, _, err = net.SplitHostPort(l.Remote); err != nil {
			remote = l.Remote
		}
	}
	k := refusalKey{remote, l.Reason, l.TS.Unix() / 60}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		f.open = map[refusalKey]*refusalRun{}
	}
	if f.open[k] == nil && len(f.open) >= maxRefusalKeys {
		k.remote = "*"
	}
	if r := f.open[k]; r != nil {
		r.count++
		r.last = *l
		return true
	}
	f.open[k] = &refusalRun{}
	return false
}

// due takes the summary lines of the minutes that ended before now, or of
// every minute with all.
func (f *refusals) due(now time.Time, all bool) []index.Line {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []index.Line
	for k, r := range f.open {
		if !all && k.minute >= now.Unix()/60 {
			continue
		}
		if r.count > 0 {
			l := r.last
			l.Count = r.count
			if k.remote == "*" {
				l.Remote = "*"
			}
			out = append(out, l)
		}
		delete(f.open, k)
	}
	return out
}

// FoldRefusals writes the summary lines of folded refusals as their
// minutes end, and all that are left once ctx ends (before the storage
// closes). Run it beside Serve.
func (s *Server) FoldRefusals(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.writeRefusals(s.opt.Now(), true)
			return
		case <-t.C:
			s.writeRefusals(s.opt.Now(), false)
		}
	}
}

func (s *Server) writeRefusals(now time.Time, all bool) {
	for _, l := range s.refused.due(now, all) {
		d, err := s.index.Begin(l)
		if err == nil {
			err = d(context.Background())
		}
		if err != nil {
			s.log.Error("write the count of folded refusals", "err", err, "remote", l.Remote, "count", l.Count)
		}
	}
}

// every lets something happen at most once a minute (a log line repeated
// for every request of a flood would be a flood of its own).
type every struct {
	mu   sync.Mutex
	last time.Time
}

func (e *every) Allow(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < time.Minute {
		return false
	}
	e.last = now
	return true
}

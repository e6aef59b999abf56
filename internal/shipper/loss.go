package shipper

import (
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/wire"
)

// noteLosses takes what the follower found gone for good: each is said
// once in the log, with the fix, and kept in the checkpoint until a PUT
// carrying it is acknowledged (then the receiver's index holds it).
func (s *stream) noteLosses() {
	ls := s.fl.takeLosses()
	if len(ls) == 0 {
		return
	}
	for _, l := range ls {
		s.log.Error("bytes of this source are gone for good: they were removed before the shipper could read them",
			"path", s.opt.Path, "stream", s.opt.Name, "where", l.What, "lost_at_least", human.Bytes(l.Bytes),
			"cause", l.Cause, "fix", wire.LossFix(l.Cause))
		s.cp.Lost = s.cp.Lost.add(l)
		last := l
		s.cp.LastLoss = &last
	}
	if err := s.save(); err != nil {
		s.log.Warn("save checkpoint", "err", err)
	}
}

// wireLoss is the pending loss as the next PUT says it, nil for none.
func (s *stream) wireLoss() *wire.Loss {
	if s.cp.Lost == nil {
		return nil
	}
	return &wire.Loss{Bytes: s.cp.Lost.Bytes, Entries: s.cp.Lost.Entries, Cause: s.cp.Lost.Cause}
}

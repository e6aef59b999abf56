package shipper

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/cis490/cis490/internal/transport"
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
			"path", s.opt.Path, "stream", s.opt.Name, "where", l.What, "lost", wire.LossAmount(l.Bytes, l.Entries),
			"cause", l.Cause, "fix", wire.LossFix(l.Cause))
		s.cp.recordLoss(l)
	}
	if err := s.save(); err != nil {
		s.log.Warn("save checkpoint", "err", err)
	}
}

// recordLoss keeps l pending, for the next PUT, and as the latest loss,
// for the doctor.
func (c *Checkpoint) recordLoss(l Loss) {
	c.Lost = c.Lost.add(l)
	c.LastLoss = &l
}

// wireLoss is the pending loss as the next PUT says it, nil for none.
func (c *Checkpoint) wireLoss() *wire.Loss {
	if c.Lost == nil {
		return nil
	}
	return &wire.Loss{Bytes: c.Lost.Bytes, Entries: c.Lost.Entries, Cause: c.Lost.Cause}
}

// dropRefusedLoss says whether err is the receiver refusing the account of
// a loss (400 bad-lost); the pending loss is then dropped, it is in this
// log already, so that the logs do not wait on it.
func (c *Checkpoint) dropRefusedLoss(err error, log *slog.Logger) bool {
	var e *transport.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Reason != wire.ReasonBadLost {
		return false
	}
	log.Warn("the receiver refused this shipper's account of lost bytes; sending without it", "receiver_says", e.Message)
	c.Lost = nil
	return true
}

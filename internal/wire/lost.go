package wire

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cis490/cis490/internal/human"
)

// HeaderLost rides on a log PUT after the shipper found bytes of that
// stream gone for good before it could read them: "bytes=N cause=C", and
// "entries=N" for a journal. The PUT's offset is where the loss sits in the
// stream. A receiver that does not know it ignores it; this one records it
// in the PUT's index line for the detector's lost-logs.
const HeaderLost = "X-Cis490-Lost"

// The causes of a loss, as HeaderLost names them.
const (
	// LostRotatedAway: the generation being read was deleted (rotated
	// past logrotate's rotate count) before the rest of it was read.
	LostRotatedAway = "rotated-away"
	// LostTruncated: the file was truncated in place (copytruncate, or a
	// program rewriting it) with bytes not yet read, and no copy held them.
	LostTruncated = "truncated"
	// LostUnreadable: the only copy left is one the shipper cannot read
	// (compressed with xz or zstd).
	LostUnreadable = "unreadable"
	// LostVacuumed: journal entries were vacuumed or rotated away before
	// they were read.
	LostVacuumed = "vacuumed"
)

// Loss is what HeaderLost says.
type Loss struct {
	Bytes   int64 // at least this many bytes
	Entries int64 // journal entries, when counted
	Cause   string
}

// String is the header's value.
func (l Loss) String() string {
	s := fmt.Sprintf("bytes=%d cause=%s", l.Bytes, l.Cause)
	if l.Entries > 0 {
		s += fmt.Sprintf(" entries=%d", l.Entries)
	}
	return s
}

// ParseLoss reads a HeaderLost value; the error says what is wrong with it.
func ParseLoss(v string) (Loss, error) {
	var l Loss
	if len(v) > 128 {
		return l, fmt.Errorf("%s is longer than 128 bytes", HeaderLost)
	}
	for _, f := range strings.Fields(v) {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return l, fmt.Errorf("%s has %q, not key=value", HeaderLost, f)
		}
		switch k {
		case "bytes", "entries":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return l, fmt.Errorf("%s %s=%q is not a count", HeaderLost, k, val)
			}
			if k == "bytes" {
				l.Bytes = n
			} else {
				l.Entries = n
			}
		case "cause":
			// A cause this receiver does not know is a newer shipper's:
			// recorded as it is, never refused (a refusal would stall it).
			if !causeToken(val) {
				return l, fmt.Errorf("%s cause=%q is not a short lower-case word (like %s)", HeaderLost, val, LostRotatedAway)
			}
			l.Cause = val
		default:
			// Unknown keys are a newer shipper's: skipped, not refused.
		}
	}
	if l.Cause == "" {
		return l, fmt.Errorf("%s names no cause", HeaderLost)
	}
	return l, nil
}

// causeToken says whether s can be a cause: 1 to 32 of a-z, 0-9 and -.
func causeToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// LossFix says what to change so that a loss of this cause does not
// happen again. The shipper, the doctor and the detector all say it.
func LossFix(cause string) string {
	switch cause {
	case LostRotatedAway:
		return "keep more generations (logrotate's rotate N), or rotate less often, and keep the receiver reachable (the shipper reads rotated and compressed .gz and .bz2 copies, never deleted ones)"
	case LostTruncated:
		return "the file was truncated with bytes unread (logrotate's copytruncate races the shipper): use create instead of copytruncate where the program reopens its log"
	case LostUnreadable:
		return "compress rotated logs with gzip (logrotate's default) or bzip2, or add delaycompress, so the shipper can read the copies"
	case LostVacuumed:
		return "keep more journal (SystemMaxUse= and MaxRetentionSec= in journald.conf), and keep the receiver reachable"
	}
	return "read the shipper's journal (journalctl -u cis490-shipper)"
}

// LossAmount is how much a loss is, as people read it: "at least 1.2
// MiB", "at least 42 journal entries", both, or "an unknown amount". The
// shipper, the doctor and the detector all say it so.
func LossAmount(bytes, entries int64) string {
	switch {
	case entries == 0 && bytes == 0:
		return "an unknown amount" // the shipper could not count it
	case entries > 0 && bytes > 0:
		return fmt.Sprintf("at least %s (%s)", human.Bytes(bytes), human.Count(int(entries), "journal entry"))
	case entries > 0:
		return "at least " + human.Count(int(entries), "journal entry")
	}
	return "at least " + human.Bytes(bytes)
}

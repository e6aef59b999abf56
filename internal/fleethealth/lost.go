package fleethealth

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/wire"
)

// LossSeen is bytes a host's shipper told the receiver it lost for good
// (X-Cis490-Lost, in the index line of the PUT that carried it).
type LossSeen struct {
	At      time.Time `json:"at"`
	Stream  string    `json:"stream"`
	Bytes   int64     `json:"bytes,omitempty"`
	Entries int64     `json:"entries,omitempty"`
	Cause   string    `json:"cause"`
}

// lostHold is how long a loss keeps lost-logs on the host (and in the
// fleet view): a day, as the doctor warns for.
const lostHold = 24 * time.Hour

// maxLosses bounds the losses kept per host.
const maxLosses = 16

// lost notes a loss from an accepted log PUT. A retry of the PUT that
// told it (the shipper keeps a loss until a PUT carrying it is
// acknowledged) tells it again: the same stream, size and cause within
// the hour is the same loss.
func (h *Host) lost(r *index.Line) {
	l := LossSeen{At: r.TS, Stream: r.Stream, Bytes: r.Lost, Entries: r.LostEntries, Cause: r.LostCause}
	for _, o := range h.Losses {
		if o.Stream == l.Stream && o.Bytes == l.Bytes && o.Entries == l.Entries && o.Cause == l.Cause && r.TS.Sub(o.At).Abs() < time.Hour {
			return
		}
	}
	keep := h.Losses[:0]
	for _, o := range h.Losses {
		if r.TS.Sub(o.At) <= lostHold {
			keep = append(keep, o)
		}
	}
	h.Losses = append(keep, l)
	if len(h.Losses) > maxLosses {
		h.Losses = h.Losses[len(h.Losses)-maxLosses:]
	}
}

// lostLogs finds a host whose shipper lost logs for good in the last day.
// It is an event: one alert per loss (the latest names it), no hourly
// repeat, no resolved when the day is over; nothing was fixed.
func (e *evaluation) lostLogs(name string, h *Host) {
	var recent []LossSeen
	for _, l := range h.Losses {
		if d := e.now.Sub(l.At); d >= 0 && d <= lostHold {
			recent = append(recent, l)
		}
	}
	if len(recent) == 0 {
		return
	}
	last := recent[len(recent)-1]
	f := Finding{name, LostLogs, lossDetail(last, recent)}
	e.perHost = append(e.perHost, f)
	if e.out.Events == nil {
		e.out.Events = map[string]string{}
	}
	e.out.Events[trackKey(name, LostLogs)] = last.At.UTC().Format(time.RFC3339Nano) + " " + last.Stream
}

// lossDetail says how much of which stream was lost, when, why, how much
// in the day, and what to change.
func lossDetail(last LossSeen, day []LossSeen) string {
	d := fmt.Sprintf("its shipper lost %s of stream %s for good at %s: %s",
		wire.LossAmount(last.Bytes, last.Entries), last.Stream, last.At.UTC().Format(time.RFC3339), lossMeaning(last.Cause))
	if len(day) > 1 {
		var bytes, entries int64
		streams := map[string]bool{}
		for _, l := range day {
			bytes += l.Bytes
			entries += l.Entries
			streams[l.Stream] = true
		}
		names := make([]string, 0, len(streams))
		for s := range streams {
			names = append(names, s)
		}
		sort.Strings(names)
		d += fmt.Sprintf("; %d losses in the last day, %s in all, of %s", len(day), wire.LossAmount(bytes, entries), strings.Join(names, ", "))
	}
	return d + ": " + wire.LossFix(last.Cause)
}

// lossMeaning says what a cause means happened.
func lossMeaning(cause string) string {
	switch cause {
	case wire.LostRotatedAway:
		return "the file generation it was reading was deleted (rotated past logrotate's count) before the rest was read"
	case wire.LostTruncated:
		return "the file was truncated in place with bytes not yet read"
	case wire.LostUnreadable:
		return "the only copy left of a rotated generation could not be decompressed"
	case wire.LostVacuumed:
		return "journal entries were vacuumed or rotated away before they were read"
	}
	return "the shipper names the cause " + cause
}

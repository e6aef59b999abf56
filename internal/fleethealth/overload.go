package fleethealth

import (
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/wire"
)

// overloadSlice is one timer interval. An overload is the receiver's when
// it filled two in a row: one the hosts ride out (503 with Retry-After,
// then every byte acknowledged) holds for one run at most, and a symptom
// must hold for confirm_runs to fire.
const overloadSlice = 5 * time.Minute

// overload is the receiver turning most of the fleet away with 503
// overloaded, as measured over the last two slices.
type overload struct {
	held, sending int // hosts held back and hosts sending logs, latest slice
	refused, puts int // log PUTs refused overloaded, and all, both slices
}

// overloaded measures the last two slices: in each, enough of the hosts
// sending logs had most of their log PUTs refused 503 overloaded.
func (e *evaluation) overloaded() *overload {
	o := &overload{}
	// The older slice ends a second before the newer begins: Window's
	// bounds are whole minutes, inclusive, and a minute counted in both
	// would let one minute's burst fill both.
	for i, end := range []time.Time{e.now, e.now.Add(-overloadSlice - time.Second)} {
		held, sending := 0, 0
		for _, name := range e.names {
			w := e.t.Hosts[name].Window(end, overloadSlice)
			n := w.OK + w.C4 + w.C5
			if n == 0 {
				continue
			}
			sending++
			busy := w.Reasons[wire.ReasonOverloaded]
			if busy > 0 && busy >= w.OK {
				held++
			}
			o.refused += busy
			o.puts += n
		}
		if !e.enough(held, sending) {
			return nil
		}
		if i == 0 {
			o.held, o.sending = held, sending
		}
	}
	return o
}

// detail names the overload, the limit that caused it and the load, and
// what to change.
func (o *overload) detail(e *evaluation) string {
	d := fmt.Sprintf("overloaded: %d of %d hosts sending logs had most of their log PUTs refused with 503 overloaded for at least %s (%d of %d log PUTs, %.0f a minute from the fleet)",
		o.held, o.sending, roundDur(2*overloadSlice), o.refused, o.puts, float64(o.puts)/(2*overloadSlice).Minutes())
	if in := e.t.Fleet.Inflight; in != nil && e.now.Sub(in.At) <= 2*overloadSlice {
		return d + fmt.Sprintf(": its memory for request bodies, limits.max_inflight (%s), was full (%s in flight); raise limits.max_inflight in receiver.toml if the machine has the memory, else spread the load (a longer batch.max_wait in the hosts' lab-host.toml sends fewer, larger requests) or add a receiver, and restart cis490-receiver",
			human.Bytes(in.Limit), human.Bytes(in.Used))
	}
	return d + ": each host's share of its memory for request bodies (limits.max_inflight_per_host), or its connections per host (limits.max_conns_per_host), was full; raise that limit in receiver.toml, else spread the load (a longer batch.max_wait in the hosts' lab-host.toml sends fewer, larger requests), and restart cis490-receiver"
}

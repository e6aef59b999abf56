package incidents

import (
	"time"

	"github.com/cis490/cis490/internal/index"
)

// The fleet-level incidents of issue 15, items 1 and 2: a partition that
// outlasts fleet_silent_window, and a receiver overloaded for long or
// briefly.

func longPartition() incident {
	cut, back := at(9, 50), at(13, 20)
	return incident{
		name:  "long-partition",
		what:  "a room's switch died: 12 of the 20 hosts were cut off for 3.5 hours, longer than the 2 h fleet-silent window",
		start: cut, from: at(9, 30), to: at(14, 0),
		index: func(g *gen) {
			for i, h := range fleet(20) {
				if i < 8 {
					g.ship(h, at(8, 0), at(14, 0))
					continue
				}
				g.ship(h, at(8, 0), cut)
				g.puts(h, back, back.Add(5*time.Minute), 10*time.Second, nil) // what waited on them
				g.ship(h, back.Add(5*time.Minute), at(14, 0))
			}
		},
		detects: "fleet-silent",
		// One line per hour bucket while it lasts (10, 11, 12, 13), one
		// resolved, and no host's own silent: they all came back.
		want: []want{
			{line: "* fleet-silent", has: []string{"12 of 20 hosts", "went silent together"}},
			{line: "* fleet-silent"}, {line: "* fleet-silent"}, {line: "* fleet-silent"},
			{line: "* resolved fleet-silent"},
		},
	}
}

// overloaded is a log PUT the receiver turned away with 503 and
// Retry-After.
func overloaded(l *index.Line) { l.Status, l.Reason = 503, "overloaded" }

// overload is 12 hosts whose receiver is overloaded in [from, to): it turns
// 8 of them away on every try (they retry every 10 s, too busy to
// heartbeat) and takes the other 4's backlog every 15 s, about one request
// in four; afterwards every host catches up, every byte acknowledged.
func overload(g *gen, from, to, end time.Time) {
	for i, h := range fleet(12) {
		g.ship(h, at(8, 0), from)
		if i < 8 {
			g.puts(h, from, to, 10*time.Second, overloaded)
		} else {
			g.puts(h, from, to, 15*time.Second, nil)
		}
		g.puts(h, to, to.Add(5*time.Minute), 10*time.Second, nil)
		g.ship(h, to.Add(5*time.Minute), end)
	}
}

func receiverOverload() incident {
	from, to := at(10, 10), at(11, 0)
	return incident{
		name:  "receiver-overload",
		what:  "the receiver answered 503 overloaded with Retry-After to most hosts for 50 minutes",
		start: from, from: at(9, 30), to: at(12, 30),
		index:   func(g *gen) { overload(g, from, to, at(12, 30)) },
		detects: "receiver-fault",
		// One receiver-level alert an hour that says overloaded, one
		// resolved, no host's fatal-only.
		want: []want{
			{line: "* receiver-fault", has: []string{"overloaded", "limits.max_inflight"}, not: []string{"deploy"}},
			{line: "* receiver-fault"},
			{line: "* resolved receiver-fault"},
		},
	}
}

func briefOverload() incident {
	from, to := at(10, 12), at(10, 19)
	return incident{
		name:  "brief-overload",
		what:  "the receiver turned most hosts away with 503 and Retry-After for 7 minutes across a run, and they caught up",
		start: from, from: at(9, 30), to: at(11, 30),
		index: func(g *gen) { overload(g, from, to, at(11, 30)) },
	}
}

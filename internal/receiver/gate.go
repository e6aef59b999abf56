package receiver

import "strings"

// Release is a published version and the commit it was built from.
type Release struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Rolling: still rolling out (under 100 %): accepted whatever its
	// age, and it does not count toward the newest n, so a staged rollout
	// never locks out the hosts not in it yet.
	Rolling bool `json:"rolling,omitempty"`
}

// Gate is the version gate on PUT /v1/logs: a commit that is a known release
// older than the oldest accepted one is stale. Unknown commits (dev builds)
// and missing stamps pass.
type Gate struct {
	releases []Release // oldest first
	pos      map[string]int
	accept   int
	// A gate never changes once made (a new one replaces it), so what it
	// accepts is worked out once, not on every answer to a host.
	oldest   int       // index of the oldest accepted full release
	accepted []Release // newest first
	header   string    // HeaderAccepted: "VERSION COMMIT, ..."
	text     string    // for people: "VERSION (COMMIT) or ..."
}

// NewGate makes a gate over releases (oldest first) accepting the newest n
// fully rolled-out ones and every one still rolling out.
func NewGate(releases []Release, n int) *Gate {
	g := &Gate{releases: releases, pos: map[string]int{}, accept: max(n, 1)}
	for i, r := range releases {
		g.pos[strings.ToLower(r.Commit)] = i
	}
	g.oldest = g.oldestAccepted()
	var header, text []string
	for i := len(releases) - 1; i >= 0; i-- {
		if r := releases[i]; i >= g.oldest || r.Rolling {
			g.accepted = append(g.accepted, r)
			header = append(header, r.Version+" "+r.Commit)
			text = append(text, r.Version+" ("+r.Commit+")")
		}
	}
	g.header, g.text = strings.Join(header, ", "), strings.Join(text, " or ")
	return g
}

// oldestAccepted is the index of the oldest accepted full release.
func (g *Gate) oldestAccepted() int {
	full := 0
	for i := len(g.releases) - 1; i >= 0; i-- {
		if g.releases[i].Rolling {
			continue
		}
		full++
		if full == g.accept {
			return i
		}
	}
	return 0
}

// Verdict of the gate for one request.
const (
	GatePass      = ""
	GateUnstamped = "unstamped"
	GateUnknown   = "unknown-commit"
	GateStale     = "stale"
)

// Check classifies a stamp.
func (g *Gate) Check(commit string) string {
	if commit == "" {
		return GateUnstamped
	}
	i, ok := g.pos[strings.ToLower(commit)]
	if !ok {
		return GateUnknown
	}
	if i < g.oldest && !g.releases[i].Rolling {
		return GateStale
	}
	return GatePass
}

// Accepted lists the accepted releases, newest first.
func (g *Gate) Accepted() []Release { return g.accepted }

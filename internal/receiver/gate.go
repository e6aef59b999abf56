package receiver

import "strings"

// Release is a published version and the commit it was built from.
type Release struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// Gate is the version gate on PUT /v1/logs: a commit that is a known release
// older than the oldest accepted one is stale. Unknown commits (dev builds)
// and missing stamps pass.
type Gate struct {
	releases []Release // oldest first
	pos      map[string]int
	accept   int
}

// NewGate makes a gate over releases (oldest first) accepting the newest n.
func NewGate(releases []Release, n int) *Gate {
	g := &Gate{releases: releases, pos: map[string]int{}, accept: max(n, 1)}
	for i, r := range releases {
		g.pos[strings.ToLower(r.Commit)] = i
	}
	return g
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
	if i < len(g.releases)-g.accept {
		return GateStale
	}
	return GatePass
}

// Accepted lists the accepted releases, newest first.
func (g *Gate) Accepted() []Release {
	var out []Release
	for i := len(g.releases) - 1; i >= 0 && i >= len(g.releases)-g.accept; i-- {
		out = append(out, g.releases[i])
	}
	return out
}

// Package gate is the version gate on the receiver's PUT /v1/logs: which
// releases it accepts, from those the receiver's config lists and those
// published to it. The receiver answers hosts with it; the detector and
// the fleet view name what it accepts when they call a host stale.
package gate

import (
	"log/slog"
	"strings"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/wire"
)

// Release is a published version and the commit it was built from.
type Release struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Rolling: still rolling out (under 100 %): accepted whatever its
	// age, and it does not count toward the newest n, so a staged rollout
	// never locks out the hosts not in it yet.
	Rolling bool `json:"rolling,omitempty"`
}

// Gate classifies a stamp: a commit that is a known release older than
// the oldest accepted one is stale. Unknown commits (dev builds) and
// missing stamps are told apart but never refused.
type Gate struct {
	releases []Release // oldest first
	pos      map[string]int
	accept   int
	// A gate never changes once made (a new one replaces it), so what it
	// accepts is worked out once, not on every answer to a host.
	oldest   int       // index of the oldest accepted full release
	accepted []Release // newest first
	header   string    // "VERSION COMMIT, ..."
	text     string    // for people: "VERSION (COMMIT) or ..."
	summary  string    // for an alert: "VERSION (SHORT) or ..."
}

// New makes a gate over releases (oldest first) accepting the newest n
// fully rolled-out ones and every one still rolling out.
func New(releases []Release, n int) *Gate {
	g := &Gate{releases: releases, pos: map[string]int{}, accept: max(n, 1)}
	for i, r := range releases {
		g.pos[strings.ToLower(r.Commit)] = i
	}
	g.oldest = g.oldestAccepted()
	var header, text, summary []string
	for i := len(releases) - 1; i >= 0; i-- {
		if r := releases[i]; i >= g.oldest || r.Rolling {
			g.accepted = append(g.accepted, r)
			header = append(header, r.Version+" "+r.Commit)
			text = append(text, r.Version+" ("+r.Commit+")")
			summary = append(summary, r.Version+" ("+human.Commit(r.Commit)+")")
		}
	}
	g.header, g.text, g.summary = strings.Join(header, ", "), strings.Join(text, " or "), strings.Join(summary, " or ")
	return g
}

// Load is the gate a receiver with this config and published releases
// runs: the configured releases, then those published to it that the
// release key verifies (one whose commit is configured already is not
// counted twice). Each stored release that does not verify is skipped
// with a warning on log, never a failed start.
func Load(cfg config.Gate, releases release.Shelf, log *slog.Logger) *Gate {
	var all []Release
	known := map[string]bool{}
	for _, r := range cfg.Releases {
		all = append(all, Release{Version: r.Version, Commit: r.Commit})
		known[r.Commit] = true
	}
	for _, r := range Published(releases, log) {
		if !known[r.Commit] {
			all = append(all, r)
			known[r.Commit] = true
		}
	}
	return New(all, cfg.Accept)
}

// Published reads the releases published in rel, oldest first: only
// those the release key verifies, since a forged or junk manifest made
// the newest would have every host refused as stale. The others are
// skipped with a warning naming their version.
func Published(rel release.Shelf, log *slog.Logger) []Release {
	ms, err := rel.Verified(func(version string, err error) {
		log.Warn("a stored release does not count: the gate ignores it and hosts are not offered it (publish it signed, or remove it from data_dir/releases)", "version", version, "err", err)
	})
	if err != nil {
		log.Warn("the published releases cannot be listed: the gate counts only the configured ones", "err", err)
	}
	out := make([]Release, 0, len(ms))
	for _, m := range ms {
		out = append(out, Release{Version: m.Version, Commit: m.Commit, Rolling: m.Rollout < 100})
	}
	return out
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

// Verdicts of the gate for one request, as the index records them and
// the receiver tells the host (wire.HeaderGate; Pass there is
// wire.GatePass, here "" so that a passing line carries no gate key).
const (
	Pass      = ""
	Unstamped = wire.GateUnstamped
	Unknown   = wire.GateUnknown
	Stale     = wire.GateStale
)

// Check classifies a stamp.
func (g *Gate) Check(commit string) string {
	if commit == "" {
		return Unstamped
	}
	i, ok := g.pos[strings.ToLower(commit)]
	if !ok {
		return Unknown
	}
	if i < g.oldest && !g.releases[i].Rolling {
		return Stale
	}
	return Pass
}

// Accepted lists the accepted releases, newest first.
func (g *Gate) Accepted() []Release { return g.accepted }

// Header is the accepted releases as the receiver's X-Cis490-Accepted
// header gives them: "VERSION COMMIT, ...", newest first; "" for none.
func (g *Gate) Header() string { return g.header }

// Text names the accepted releases with their full commits, newest
// first, for a host told to update: "VERSION (COMMIT) or ...".
func (g *Gate) Text() string { return g.text }

// Summary names the accepted releases with short commits, newest first,
// for people reading an alert; "" for none.
func (g *Gate) Summary() string { return g.summary }

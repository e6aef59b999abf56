// Package gate is the version gate on the receiver's PUT /v1/logs: which
// releases it accepts, from those the receiver's config lists and those
// published to it. The receiver answers hosts with it; the detector and
// the fleet view name what it accepts when they call a host stale.
package gate

import (
	"io"
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
// runs: the configured releases, then those published to it (one whose
// commit is configured already is not counted twice).
func Load(cfg config.Gate, releases release.Store) *Gate {
	var all []Release
	known := map[string]bool{}
	for _, r := range cfg.Releases {
		all = append(all, Release{Version: r.Version, Commit: r.Commit})
		known[r.Commit] = true
	}
	for _, r := range Published(releases) {
		if !known[r.Commit] {
			all = append(all, r)
			known[r.Commit] = true
		}
	}
	return New(all, cfg.Accept)
}

// Published reads the manifests published in rel (unverified: an
// admin's upload), oldest first; one it cannot read is left out.
func Published(rel release.Store) []Release {
	versions, _ := rel.Versions()
	var out []Release
	for _, v := range versions {
		b, err := readManifest(rel, v)
		if err != nil {
			continue
		}
		m, err := release.Read(b)
		if err != nil || m.Version != v {
			continue
		}
		out = append(out, Release{Version: m.Version, Commit: m.Commit, Rolling: m.Rollout < 100})
	}
	for i := 1; i < len(out); i++ { // few: insertion sort by version
		for k := i; k > 0 && release.Newer(out[k-1].Version, out[k].Version); k-- {
			out[k-1], out[k] = out[k], out[k-1]
		}
	}
	return out
}

func readManifest(rel release.Store, version string) ([]byte, error) {
	f, _, err := rel.Open(version, release.ManifestFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
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

package fleethealth

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/wire"
)

// SilentGroup is the hosts that went silent together when fleet-silent
// began, measured then and kept. Measured afresh each run, a silence longer
// than fleet_silent_window would shrink as its hosts slid out of "active in
// the last 2 h": a false resolved, then a storm of per-host silents. Kept,
// it is one fleet-level alert an hour for as long as the silence lasts.
type SilentGroup struct {
	// Base is how many hosts were active in fleet_silent_window before
	// the silence: the share fleet-silent holds by.
	Base int `json:"base"`
	// Members are the hosts that went silent, each with its last word
	// then: one heard after that has come back.
	Members map[string]time.Time `json:"members"`
	// DiskFull: their last words were the receiver refusing them with 507
	// disk-full.
	DiskFull bool `json:"disk_full,omitempty"`
}

func (g *SilentGroup) has(host string) bool {
	_, ok := g.Members[host]
	return ok
}

// fleetSilent finds enough recently active hosts silent together: the
// group already silent while enough of it stays so, else a new one.
func (e *evaluation) fleetSilent() {
	g := e.holdGroup(e.t.Fleet.SilentGroup)
	if g == nil {
		g = e.newGroup()
	} else {
		g = e.growGroup(g)
	}
	e.group, e.out.Group = g, g
	if g != nil {
		e.out.Found = append(e.out.Found, Finding{FleetHost, FleetSilent, e.groupDetail(g)})
	}
}

// stillSilent lists the group's hosts not heard from since it went silent
// (a host removed since counts as back: nobody waits for it).
func (e *evaluation) stillSilent(g *SilentGroup) []string {
	var out []string
	for name, last := range g.Members {
		if h := e.t.Hosts[name]; h != nil && !h.LastSeen.After(last) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// holdGroup returns g while the fleet-silent threshold still holds for the
// hosts measured when it began, nil once enough of them are back.
func (e *evaluation) holdGroup(g *SilentGroup) *SilentGroup {
	if g == nil || !e.enough(len(e.stillSilent(g)), g.Base) {
		return nil
	}
	return g
}

// newGroup measures a silence beginning: enough of the hosts active in the
// fleet-silent window before the fleet's latest word silent now.
func (e *evaluation) newGroup() *SilentGroup {
	members := e.silentRecent(nil)
	if !e.enough(len(members), len(e.recent)) {
		return nil
	}
	return &SilentGroup{Base: len(e.recent), Members: members,
		DiskFull: e.enough(e.refusedFullBefore(), len(e.recent))}
}

// growGroup folds in the rest of the fleet when it, too, goes silent
// together (the receiver failing during a partition): one silence, one
// alert. A host or two going quiet meanwhile is its own news.
func (e *evaluation) growGroup(g *SilentGroup) *SilentGroup {
	more := e.silentRecent(g)
	others := 0
	for name := range e.recent {
		if !g.has(name) {
			others++
		}
	}
	if !e.enough(len(more), others) {
		return g
	}
	grown := *g
	grown.Members = maps.Clone(g.Members)
	maps.Copy(grown.Members, more)
	grown.Base = max(g.Base, len(grown.Members))
	return &grown
}

// silentRecent maps the hosts silent now that were recently active, and
// not in g, to their last word.
func (e *evaluation) silentRecent(g *SilentGroup) map[string]time.Time {
	out := map[string]time.Time{}
	for _, n := range e.silent {
		if e.recent[n] && (g == nil || !g.has(n)) {
			out[n] = e.t.Hosts[n].LastSeen
		}
	}
	return out
}

// groupDetail says who went silent, when, how many still are, and where to
// look: the receiver when nothing arrives at all, the network or power the
// group shares when the rest of the fleet still gets through.
func (e *evaluation) groupDetail(g *SilentGroup) string {
	still := e.stillSilent(g)
	var began time.Time
	for _, last := range g.Members {
		began = maxTime(began, last)
	}
	d := fmt.Sprintf("%d of %d hosts active in the %s before %s went silent together (%s); %d still silent after %s",
		len(g.Members), g.Base, roundDur(e.j.Cfg.FleetSilentWindow.Duration()), began.UTC().Format(time.RFC3339),
		someHosts(slices.Sorted(maps.Keys(g.Members))), len(still), roundDur(e.now.Sub(began)))
	if g.DiskFull {
		// Below a quarter of min_free the receiver answers 507 without
		// an index line: the fleet's last words were its disk filling.
		return "disk full: " + d + ", right after being refused with 507 disk-full (below a quarter of limits.min_free the receiver answers 507 without an index line): " + e.j.Disk.fix()
	}
	if reaching := e.reaching(g); reaching > 0 {
		return d + fmt.Sprintf(" while %s still reach the receiver: the network or power these hosts share (their room, switch or VLAN) is down, not the receiver nor the hosts; check it", human.Count(reaching, "other host"))
	}
	return d + fmt.Sprintf(", and nothing has arrived from any host since %s ago: the receiver or the network in front of it is down, not the hosts; check that cis490-receiver is running (`systemctl status cis490-receiver`) and reachable from the hosts",
		roundDur(e.now.Sub(e.lastAny)))
}

// reaching counts the hosts outside g heard within silent_after: while
// some get through, the receiver is up.
func (e *evaluation) reaching(g *SilentGroup) int {
	n := 0
	for name, h := range e.t.Hosts {
		if !g.has(name) && e.now.Sub(h.LastSeen) <= e.silentAfter {
			n++
		}
	}
	return n
}

// someHosts names a few hosts, then how many more.
func someHosts(names []string) string {
	if len(names) <= maxCompanions {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxCompanions], ", ") + fmt.Sprintf(" and %d more", len(names)-maxCompanions)
}

// refusedFullBefore counts the recently active hosts refused with 507
// disk-full in the fatal window before the fleet's latest word.
func (e *evaluation) refusedFullBefore() int {
	n := 0
	for name := range e.recent {
		if e.t.Hosts[name].Window(e.lastAny, e.fatalWin).Reasons[wire.ReasonDiskFull] > 0 {
			n++
		}
	}
	return n
}

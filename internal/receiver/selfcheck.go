package receiver

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/wire"
)

// instances remembers the installations (wire.HeaderInstance) each host
// spoke from lately; bounded per host.
type instances struct {
	mu     sync.Mutex
	byHost map[string]map[string]time.Time
}

const (
	instancesKept   = 8
	instancesWindow = 24 * time.Hour
)

// instancesRecent is how lately an installation must have spoken to count
// as speaking now.
const instancesRecent = 15 * time.Minute

// seen notes host speaking from id at now and returns the installations
// seen as it in the last day, and those seen lately, sorted.
func (in *instances) seen(host, id string, now time.Time) (day, recent []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.byHost == nil {
		in.byHost = map[string]map[string]time.Time{}
	}
	m := in.byHost[host]
	if m == nil {
		m = map[string]time.Time{}
		in.byHost[host] = m
	}
	if id != "" {
		m[id] = now
	}
	oldest := ""
	for k, at := range m {
		if now.Sub(at) > instancesWindow {
			delete(m, k)
			continue
		}
		day = append(day, k)
		if now.Sub(at) <= instancesRecent {
			recent = append(recent, k)
		}
		if oldest == "" || at.Before(m[oldest]) {
			oldest = k
		}
	}
	if len(m) > instancesKept {
		delete(m, oldest)
	}
	sort.Strings(day)
	sort.Strings(recent)
	return day, recent
}

// selfCheckHeaders adds what a host's doctor reads to an answer to a host.
func (s *Server) selfCheckHeaders(resp *response, host, commit, instance string, now time.Time) {
	if resp.headers == nil {
		resp.headers = map[string]string{}
	}
	g := s.Gate() // one gate for the whole answer, though a publish may swap it
	verdict := g.Check(commit)
	if verdict == gate.Pass {
		verdict = wire.GatePass
	}
	resp.headers[wire.HeaderGate] = verdict
	if h := g.Header(); h != "" {
		resp.headers[wire.HeaderAccepted] = h
	}
	day, recent := s.insts.seen(host, instance, now)
	if len(day) > 0 {
		resp.headers[wire.HeaderInstances] = strings.Join(day, ",")
	}
	if len(recent) > 0 {
		resp.headers[wire.HeaderInstancesRecent] = strings.Join(recent, ",")
	}
}

package dashboard

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/human"
)

// fleetFacts is what the fleet's latest doctor snapshots say, to tell
// where one host differs from most: the most common kernel and commit
// (and their share), the median clock offset and free disk.
type fleetFacts struct {
	at          time.Time
	n           int
	kernel      string
	kernelShare float64
	commit      string
	commitShare float64
	clock       float64 // median offset, seconds
	disk        int64   // median free bytes
}

type factsCache struct {
	mu sync.Mutex
	f  fleetFacts
}

// factsEvery bounds how often the snapshots are all read (a page view
// must not read thousands of files).
const factsEvery = time.Minute

func (u *UI) fleetFacts(now time.Time) fleetFacts {
	u.facts.mu.Lock()
	defer u.facts.mu.Unlock()
	if !u.facts.f.at.IsZero() && now.Sub(u.facts.f.at) < factsEvery {
		return u.facts.f
	}
	ents, _ := u.opt.HostHealth.List()
	kernels, commits := map[string]int{}, map[string]int{}
	var clocks []float64
	var disks []int64
	n := 0
	for _, e := range ents {
		rep := readSnapshot(u.opt.HostHealth, e.Host)
		if rep == nil {
			continue
		}
		n++
		if rep.Facts.Kernel != "" {
			kernels[rep.Facts.Kernel]++
		}
		if rep.Commit != "" {
			commits[rep.Commit]++
		}
		if rep.Facts.ClockOffsetS != nil {
			clocks = append(clocks, *rep.Facts.ClockOffsetS)
		}
		if rep.Facts.DiskFree > 0 {
			disks = append(disks, rep.Facts.DiskFree)
		}
	}
	f := fleetFacts{at: now, n: n}
	f.kernel, f.kernelShare = mode(kernels, n)
	f.commit, f.commitShare = mode(commits, n)
	if len(clocks) > 0 {
		sort.Float64s(clocks)
		f.clock = clocks[len(clocks)/2]
	}
	if len(disks) > 0 {
		sort.Slice(disks, func(i, j int) bool { return disks[i] < disks[j] })
		f.disk = disks[len(disks)/2]
	}
	u.facts.f = f
	return f
}

func mode(m map[string]int, n int) (string, float64) {
	best, bn := "", 0
	for k, c := range m {
		if c > bn || (c == bn && k < best) {
			best, bn = k, c
		}
	}
	if n == 0 {
		return best, 0
	}
	return best, float64(bn) / float64(n)
}

// deviation is where a host's snapshot differs from most of the fleet.
type deviation struct {
	What, Host, Fleet string
}

// deviations compares a host's snapshot with the fleet's: a different
// kernel or commit where most hosts agree, a clock off the fleet's, a
// disk much fuller than the fleet's.
func (u *UI) deviations(rep *hosthealth.Report, now time.Time) []deviation {
	f := u.fleetFacts(now)
	if f.n < 2 {
		return nil // a fleet of one differs from nobody
	}
	var out []deviation
	share := func(s float64) string { return fmt.Sprintf("%.0f%% of hosts", 100*s) }
	if k := rep.Facts.Kernel; k != "" && f.kernelShare >= 0.5 && k != f.kernel {
		out = append(out, deviation{"kernel", k, f.kernel + " on " + share(f.kernelShare)})
	}
	if c := rep.Commit; f.commitShare >= 0.5 && c != f.commit {
		out = append(out, deviation{"commit", human.Commit(c), human.Commit(f.commit) + " on " + share(f.commitShare)})
	}
	if c := rep.Facts.ClockOffsetS; c != nil && math.Abs(*c-f.clock) > 2 {
		out = append(out, deviation{"clock offset", fmt.Sprintf("%+.1f s", *c), fmt.Sprintf("%+.1f s (median)", f.clock)})
	}
	if d := rep.Facts.DiskFree; d > 0 && f.disk > 0 && (d < f.disk/4 || d < 1<<30) && d < f.disk {
		out = append(out, deviation{"free disk", human.Bytes(d), human.Bytes(f.disk) + " (median)"})
	}
	return out
}

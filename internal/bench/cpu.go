package bench

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strconv"
	"time"
)

// Linux reports process CPU times in USER_HZ ticks, 100 per second on every
// architecture (it is part of the ABI, whatever CONFIG_HZ is).
const tick = time.Second / 100

// cpuSample is one reading of the CPU counters.
type cpuSample struct {
	proc  time.Duration // the server process tree
	self  time.Duration // this process
	busy  int64         // machine-wide non-idle ticks, all CPUs
	total int64         // machine-wide ticks, all CPUs

	parts []time.Duration // each of the target's Parts, in order
}

// MachineBusy measures the share of all CPUs busy over d (0..1).
func MachineBusy(ctx context.Context, d time.Duration) float64 {
	b0, t0 := machineCPU()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	b1, t1 := machineCPU()
	if t1 <= t0 {
		return 0
	}
	return float64(b1-b0) / float64(t1-t0)
}

// WaitQuiet waits, up to limit, until the machine's CPUs are less than
// maxBusy busy over a second (others' builds and tests would skew a run),
// and returns the last reading.
func WaitQuiet(ctx context.Context, maxBusy float64, limit time.Duration) float64 {
	end := time.Now().Add(limit)
	for {
		b := MachineBusy(ctx, time.Second)
		if b < maxBusy || time.Now().After(end) || ctx.Err() != nil {
			return b
		}
	}
}

func sampleCPU(pid int, parts []Part) cpuSample {
	var s cpuSample
	if pid > 0 || len(parts) > 0 {
		// One pass over /proc for every tree, so the trees are read at
		// (nearly) the same moment.
		stats, children := procTable()
		if pid > 0 {
			s.proc = sumCPU(walk(stats, children, pid))
		}
		for _, p := range parts {
			s.parts = append(s.parts, sumCPU(walk(stats, children, p.PID)))
		}
	}
	if st, ok := readStat("self"); ok {
		s.self = st.cpu
	}
	s.busy, s.total = machineCPU()
	return s
}

// procStat is what bench reads of /proc/<pid>/stat.
type procStat struct {
	ppid int
	cpu  time.Duration // utime+stime, plus cutime+cstime (children reaped)
}

func readStat(pid string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name in (…) may hold spaces or parentheses: the fields
	// start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return procStat{}, false
	}
	num := func(j int) int64 {
		n, _ := strconv.ParseInt(string(f[j]), 10, 64)
		return n
	}
	return procStat{ppid: int(num(1)), cpu: time.Duration(num(11)+num(12)+num(13)+num(14)) * tick}, true
}

// TreeCPU returns the user+system CPU time of pid and all its descendants
// (nginx's workers are children of its master), 0 if pid is gone.
func TreeCPU(pid int) time.Duration { return sumCPU(tree(pid)) }

func sumCPU(stats map[int]procStat) time.Duration {
	var sum time.Duration
	for _, st := range stats {
		sum += st.cpu
	}
	return sum
}

// TreePIDs returns pid and all its descendants.
func TreePIDs(pid int) []int {
	var pids []int
	for p := range tree(pid) {
		pids = append(pids, p)
	}
	slices.Sort(pids)
	return pids
}

// tree reads the stat of pid and all its descendants.
func tree(pid int) map[int]procStat {
	stats, children := procTable()
	return walk(stats, children, pid)
}

// procTable reads the stat of every process, and each one's children.
func procTable() (stats map[int]procStat, children map[int][]int) {
	stats, children = map[int]procStat{}, map[int][]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return stats, children
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(e.Name()); ok {
			stats[p] = st
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	return stats, children
}

// walk picks pid and all its descendants out of a procTable.
func walk(stats map[int]procStat, children map[int][]int, pid int) map[int]procStat {
	out := map[int]procStat{}
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if _, seen := out[p]; seen {
			continue
		}
		if st, ok := stats[p]; ok {
			out[p] = st
			todo = append(todo, children[p]...)
		}
	}
	return out
}

// machineCPU reads the first line of /proc/stat: busy and total ticks over
// all CPUs (guest time is already inside user).
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0
	}
	for j := 1; j <= 8; j++ { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(string(f[j]), 10, 64)
		total += n
		if j != 4 && j != 5 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

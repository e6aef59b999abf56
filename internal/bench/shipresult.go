package bench

import (
	"time"
)

// ProcUsage is what the kernel says a process used over its life
// (getrusage after it exited).
type ProcUsage struct {
	User, Sys    time.Duration
	MaxRSS       int64 // bytes (peak resident set)
	Vcsw, Nivcsw int64 // voluntary and involuntary context switches
	// Sampled peaks (bytes) of the resident set's two parts: memory the
	// process allocated (RssAnon) and its executable's and libraries'
	// pages mapped from the page cache (RssFile).
	PeakAnon, PeakFile int64
}

// CPU is user+system time.
func (u ProcUsage) CPU() time.Duration { return u.User + u.Sys }

// ShipThroughput is one run that ships Bytes through the receiver.
type ShipThroughput struct {
	Name      string // "backlog" (written before the start), "growing" or "spread"
	Bytes     int64
	Files     int // how many files (streams) the bytes are in
	Lines     int64
	Chunk     int           // growing: bytes per write
	MaxWait   time.Duration // the shipper's batch.max_wait
	Elapsed   time.Duration // from the shipper's start until the receiver held every byte
	WriteTime time.Duration // growing: how long the writes took
	// Tail is, growing, how long after the last write the receiver held
	// every byte.
	Tail     time.Duration
	PUTs     int64         // PUTs of this stream the receiver indexed
	Statuses map[int]int64 // their statuses
	Shipper  ProcUsage     // the shipper process, start to exit
	Receiver time.Duration // the receiver's CPU over Elapsed
	Bench    time.Duration // this process's CPU over Elapsed (the writer, HEAD polls)
	Busy     float64       // share of all CPUs busy over Elapsed
	Others   time.Duration // busy CPU time that was none of those three
	Log      string        // the shipper's log file
}

// MBPerSec is 10^6 bytes per second over Elapsed.
func (t *ShipThroughput) MBPerSec() float64 { return float64(t.Bytes) / 1e6 / t.Elapsed.Seconds() }

// CPUPerGiB is the shipper's CPU time per GiB shipped.
func (t *ShipThroughput) CPUPerGiB() time.Duration {
	return time.Duration(float64(t.Shipper.CPU()) * float64(1<<30) / float64(t.Bytes))
}

// ShipIdle is a caught-up shipper with nothing to ship.
type ShipIdle struct {
	Sources int
	MaxWait time.Duration
	Window  time.Duration
	// CPU is the shipper's user+system time over Window, summed over its
	// threads from /proc/<pid>/task/*/schedstat (nanoseconds); Ticks the
	// same from /proc/<pid>/stat (10 ms ticks).
	CPU, Ticks time.Duration
	// Wakeups are its threads' context switches (voluntary+involuntary)
	// over Window: each is a thread going to sleep or being preempted, so
	// roughly the times it woke up.
	Wakeups  int64
	Threads  int
	RSS, HWM int64   // bytes: resident now, and the peak so far (VmHWM)
	Requests int64   // requests the receiver indexed from this host in Window
	Busy     float64 // share of all CPUs busy over Window (everyone)
}

// PerMinute scales d over the window to one minute.
func (i *ShipIdle) PerMinute(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(time.Minute) / float64(i.Window))
}

// ShipDelay is one delay run.
type ShipDelay struct {
	MaxWait time.Duration
	Every   time.Duration
	Sources int
	Delays  []time.Duration // sorted, one per acknowledged line
	Lost    int             // lines not acknowledged within MaxWait+30s
	PUTs    int64           // PUTs of the measured stream in the run
	// HeadRTT is the median HEAD round trip: with Poll it bounds how late
	// an acknowledgement is seen.
	HeadRTT time.Duration
	// HeadMax is the slowest HEAD: every request waits for a group commit
	// (fdatasync) on the receiver, so a slow one shows the disk stalling.
	HeadMax time.Duration
	Poll    time.Duration
	Shipper ProcUsage // this shipper over its life (catch-up, idle, run)
}

// Percentile of the sorted delays (nearest rank).
func (d *ShipDelay) Percentile(p float64) time.Duration {
	if len(d.Delays) == 0 {
		return 0
	}
	return percentile(d.Delays, p)
}

// ShipReport is everything `bench ship` measured.
type ShipReport struct {
	Machine    string
	Dir        string
	Throughput []*ShipThroughput
	Idle       *ShipIdle
	Delays     []*ShipDelay
	// Verified is how many streams were read back and found equal to
	// their files; -1 when not asked, 0 when a failure came first.
	Verified int
	PeakRSS  int64 // the highest peak RSS of any shipper run, bytes
}

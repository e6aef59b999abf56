package journal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkReadJournal reads the whole system journal as a [[journal]]
// source does (journalctl --follow --output=export, parse, filter,
// format) until it has CIS490_BENCH_JOURNAL entries, and reports entries
// a second and CPU per entry, journalctl's included, and peak RSS. It
// runs only when that variable is set (bench/README.md says how: on a
// journal filled beforehand, as root or a member of systemd-journal).
func BenchmarkReadJournal(b *testing.B) {
	want, _ := strconv.Atoi(os.Getenv("CIS490_BENCH_JOURNAL"))
	if want <= 0 {
		b.Skip("set CIS490_BENCH_JOURNAL=<entries in the journal> to run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	r, err := Open(ctx, Options{AllHistory: true})
	if err != nil {
		b.Fatal(err)
	}
	f := NewFilter(nil, nil, 7)
	n, bytes := 0, 0
	for n < want {
		e, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		n++
		if f.Match(e) {
			bytes += len(Line(e))
		}
	}
	took := time.Since(start)
	r.Close()
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	cpu := func(u syscall.Rusage) time.Duration {
		return time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	total := cpu(self) + cpu(kids)
	fmt.Printf("entries %d  lines %d bytes  wall %s  entries/s %.0f\n", n, bytes, took.Round(time.Millisecond), float64(n)/took.Seconds())
	fmt.Printf("cpu: cis490 %s + journalctl %s = %.2f µs/entry\n", cpu(self).Round(time.Millisecond), cpu(kids).Round(time.Millisecond), float64(total.Microseconds())/float64(n))
	fmt.Printf("peak RSS: cis490 %d MiB, journalctl %d MiB\n", self.Maxrss/1024, kids.Maxrss/1024)
}

// BenchmarkJournalctlCeiling is the ceiling BenchmarkReadJournal is
// measured against: journalctl --output=export > /dev/null on the same
// journal, its CPU and peak RSS.
func BenchmarkJournalctlCeiling(b *testing.B) {
	want, _ := strconv.Atoi(os.Getenv("CIS490_BENCH_JOURNAL"))
	if want <= 0 {
		b.Skip("set CIS490_BENCH_JOURNAL=<entries in the journal> to run")
	}
	path, err := FindJournalctl()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(path, "--no-pager", "--merge", "--system", "--output=export")
	cmd.Env = Env()
	if err := cmd.Run(); err != nil { // stdout nil: /dev/null
		b.Fatal(err)
	}
	took := time.Since(start)
	u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(u.Utime.Nano() + u.Stime.Nano())
	fmt.Printf("journalctl --output=export > /dev/null: wall %s  entries/s %.0f  cpu %.2f µs/entry  peak RSS %d MiB\n",
		took.Round(time.Millisecond), float64(want)/took.Seconds(), float64(cpu.Microseconds())/float64(want), u.Maxrss/1024)
}

package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
)

// SearchOptions say what `cis490 bench search` measures: a generated day
// of a fleet's syslog-like logs in a real local store, searched with
// cis490's search (in this process, over the store, its filters built)
// and with ripgrep over the same segment files; and, with Backend pgs3 or
// both, the same logs in a postgres+s3 backend searched the same way.
type SearchOptions struct {
	Hosts int
	Bytes int64  // about this much log
	Runs  int    // warm runs per query (the median is reported)
	RG    string // ripgrep; "" looks on PATH, none skips it
	// Backend is local (""), pgs3 or both: which backends are searched.
	Backend string
	// VersityGW is the S3 server's binary for pgs3 (VersityGWPath).
	VersityGW string
	// PGS3, if set, is a running database and bucket for pgs3 instead of
	// servers of the bench's own (the tests' shared servers).
	PGS3 *PGS3Storage
	// IngestFor is how long each ingest run lasts (0: 10 s).
	IngestFor time.Duration
	// Share paces the searches run while ingest is measured (0: the
	// receiver's, search.DefaultShare).
	Share    float64
	Dir      string
	Keep     bool
	Progress io.Writer
}

// SearchQuery is one measured search.
type SearchQuery struct {
	Name     string
	Hits     int64
	Warm     time.Duration // counting, median of Runs
	WithHits time.Duration // making every hit a result, one run
	First    time.Duration // to the first hit, warm
	Cold     time.Duration // after dropping the page cache; 0: not measured
	Skipped  int64         // bytes the filters skipped
	Scanned  int64
	PeakMem  int64 // heap growth during the search (a run collecting often)
	// Blocks the filters skipped and blocks read.
	BlocksSkipped, BlocksScanned int64
	// postgres+s3: the GETs one counting search sent the bucket and the
	// bytes they returned (0 on local).
	GETs, Fetched int64
	// S3CPU is the S3 server's CPU time over that search, when the bench
	// started the server (0: not measured).
	S3CPU  time.Duration
	RGWarm time.Duration
	RGCold time.Duration
	RGHits int64
}

// SearchReport is what bench search measured. With Backend pgs3 only
// the local fields are zero and PG holds what was measured.
type SearchReport struct {
	Backend     string // local, pgs3 or both
	PG          *PGSearchReport
	Hosts       int
	DataBytes   int64
	FilterBytes int64
	FilterBuild time.Duration // from start-up until every sealed segment had its filters
	Generate    time.Duration
	Cold        bool // the page cache could be dropped (root)
	Queries     []SearchQuery
	// Appends a second by 32 writers of 4 KiB into the same store, alone
	// and while searches for a rare phrase and a common word run one after
	// another without pause.
	// Paced to Share (the receiver's: search.DefaultShare), and unpaced.
	// Alone and paced are the medians of ingestPairs runs each, taken in
	// turn; the ranges are their lowest and highest.
	Share                                      float64
	IngestAlone, IngestSearched, IngestUnpaced float64
	IngestAloneRange, IngestSearchedRange      [2]float64
	SearchesDuring, SearchesUnpaced            int
	// The same writers offering a quarter of IngestAlone, on a schedule
	// (latency from each append's scheduled time, so a stall counts):
	// alone and while paced searches run back to back. A fleet runs at
	// an offered load, not at the store's saturation.
	Offered                     float64
	OfferedAlone, OfferedSearch offeredRun
	IngestFor                   time.Duration // each ingest run
	Dir                         string
}

// offeredRun is one run of ingest at an offered load.
type offeredRun struct {
	Rate     float64 // appends a second achieved
	P50, P99 time.Duration
	Searches int
}

// The planted lines, rare words and phrases a search looks for.
const (
	plantOOM      = "kernel: Out of memory: Killed process 31337 (chrome) total-vm:8123456kB"
	plantSegfault = "traps: gnome-shell[4242] general protection fault ip:7f3a segfault at 7f00dead"
	plantRequest  = "nginx: request id 5f2c9a81e0 took 30012 ms"
)

// Backends bench search measures (SearchOptions.Backend).
const (
	SearchLocal = "local"
	SearchPGS3  = "pgs3"
	SearchBoth  = "both"
)

// searchQueries are the measured searches, and ripgrep's arguments for
// each.
var searchQueries = []struct {
	name string
	q    search.Query
	rg   []string
}{
	{"rare word", search.Query{Pattern: "5f2c9a81e0"}, []string{"-w", "5f2c9a81e0"}},
	{"rare phrase", search.Query{Pattern: "Out of memory: Killed process"}, []string{"-F", "Out of memory: Killed process"}},
	{"common word", search.Query{Pattern: "session"}, []string{"-w", "session"}},
	{"-i phrase", search.Query{Pattern: "general protection fault", IgnoreCase: true}, []string{"-i", "-F", "general protection fault"}},
	{"regex with a literal", search.Query{Pattern: `segfault at [0-9a-f]+dead`, Mode: search.Regex}, []string{"-e", `segfault at [0-9a-f]+dead`}},
}

// RunSearch generates the fleet's logs and measures the searches: on the
// local store, then on postgres+s3 (Backend).
func RunSearch(ctx context.Context, opt SearchOptions) (*SearchReport, error) {
	if opt.Hosts <= 0 {
		opt.Hosts = 300
	}
	if opt.Bytes <= 0 {
		opt.Bytes = 1 << 30
	}
	if opt.Runs <= 0 {
		opt.Runs = 3
	}
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	if opt.Backend == "" {
		opt.Backend = SearchLocal
	}
	local, pg := opt.Backend != SearchPGS3, opt.Backend != SearchLocal
	if opt.Backend != SearchLocal && opt.Backend != SearchPGS3 && opt.Backend != SearchBoth {
		return nil, fmt.Errorf("bench search: backend %q: give local, pgs3 or both", opt.Backend)
	}
	if pg && opt.PGS3 == nil {
		// Before a gigabyte is written, not after.
		var err error
		if opt.VersityGW, err = VersityGWPath(opt.VersityGW); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(opt.Dir, "cis490-bench-search-")
	if err != nil {
		return nil, err
	}
	if !opt.Keep {
		defer os.RemoveAll(dir)
	}
	rep := &SearchReport{Backend: opt.Backend, Hosts: opt.Hosts, Dir: dir, Share: opt.Share}
	if rep.Share == 0 {
		rep.Share = search.DefaultShare
	}
	if local {
		if err := searchLocal(ctx, opt, dir, rep); err != nil {
			return nil, err
		}
	}
	if pg {
		if rep.PG, err = searchPGS3(ctx, opt, dir); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// searchLocal measures the searches on a local store in dir/logs, then
// ingest into it while searching.
func searchLocal(ctx context.Context, opt SearchOptions, dir string, rep *SearchReport) error {
	logs := filepath.Join(dir, "logs")
	start := time.Now()
	fmt.Fprintf(opt.Progress, "writing %s of %d hosts' logs into a store in %s\n", human.Bytes(opt.Bytes), opt.Hosts, logs)
	var err error
	if rep.DataBytes, err = writeLocalFleet(ctx, logs, opt); err != nil {
		return err
	}
	rep.Generate = time.Since(start)

	// Start-up builds the sealed segments' filters in the background.
	start = time.Now()
	st, closeStore, err := openSearchStore(logs, nil)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := waitForFilters(ctx, logs); err != nil {
		return err
	}
	rep.FilterBuild = time.Since(start)
	flts, _ := filepath.Glob(filepath.Join(logs, "*.flt"))
	for _, f := range flts {
		if fi, err := os.Stat(f); err == nil {
			rep.FilterBytes += fi.Size()
		}
	}
	rg := opt.RG
	switch rg {
	case "none":
		rg = ""
	case "":
		rg, _ = exec.LookPath("rg")
	}
	rep.Cold = dropCaches() == nil
	segs, _ := filepath.Glob(filepath.Join(logs, "seg-*.log"))
	for _, q := range searchQueries {
		fmt.Fprintf(opt.Progress, "searching: %s\n", q.name)
		m, err := search.Compile(q.q)
		if err != nil {
			return err
		}
		sq := SearchQuery{Name: q.name}
		if rep.Cold {
			dropCaches()
			r, err := timeSearch(ctx, st, m, true)
			if err != nil {
				return err
			}
			sq.Cold = r.elapsed
		}
		if err := measureQuery(ctx, st, m, opt.Runs, &sq); err != nil {
			return err
		}
		if rg != "" {
			args := append([]string{"--no-config", "-c", "--no-filename", "-a"}, q.rg...)
			args = append(args, segs...)
			if rep.Cold {
				dropCaches()
				sq.RGCold, _, err = timeRG(ctx, rg, args)
				if err != nil {
					return err
				}
			}
			var times []time.Duration
			for range opt.Runs {
				d, n, err := timeRG(ctx, rg, args)
				if err != nil {
					return err
				}
				times, sq.RGHits = append(times, d), n
			}
			slices.Sort(times)
			sq.RGWarm = times[len(times)/2]
		}
		rep.Queries = append(rep.Queries, sq)
	}
	// Last: the ingest it measures goes into the same store.
	if opt.IngestFor <= 0 {
		opt.IngestFor = 10 * time.Second
	}
	rep.IngestFor = opt.IngestFor
	return measureIngest(ctx, st, logs, rep, opt.IngestFor, opt.Progress)
}

// measureQuery times m over src warm: counting, as rg -c does, the median
// of runs; then once with every hit made a result (host, stream, offset,
// time, line), as cis490 grep prints them, which times the first hit too;
// then once more for the heap.
func measureQuery(ctx context.Context, src search.Source, m *search.Matcher, runs int, sq *SearchQuery) error {
	var warm []searchTiming
	for range runs {
		r, err := timeSearch(ctx, src, m, true)
		if err != nil {
			return err
		}
		warm = append(warm, r)
	}
	slices.SortFunc(warm, func(a, b searchTiming) int { return int(a.elapsed - b.elapsed) })
	med := warm[len(warm)/2]
	sq.Warm, sq.Hits, sq.Skipped, sq.Scanned = med.elapsed, med.sum.Hits, med.sum.BytesSkipped, med.sum.BytesScanned
	sq.BlocksSkipped, sq.BlocksScanned = med.sum.BlocksSkipped, med.sum.BlocksScanned
	r, err := timeSearch(ctx, src, m, false)
	if err != nil {
		return err
	}
	sq.WithHits, sq.First = r.elapsed, r.first
	// Memory in a run of its own, collecting often, so the peak is
	// what the search holds rather than garbage not yet collected.
	old := debug.SetGCPercent(5)
	sq.PeakMem, err = heapOfSearch(ctx, src, m)
	debug.SetGCPercent(old)
	return err
}

// ingestAppend is what each of measureIngest's appends writes: a block of
// lines, about 4 KiB.
var ingestAppend = bytes.Repeat([]byte("ingest while searching: sshd session opened for user student\n"), 4096/62)

// ingestPairs is how many runs alone and paced measureIngest takes, in
// turn.
const ingestPairs = 3

// measureIngest times 32 writers appending 4 KiB (each append durable)
// for 10 s a run: alone and while paced searches of the generated fleet
// run back to back, in turn, ingestPairs times each, then while unpaced
// ones do, then at an offered load without and with paced searches: what
// a search takes from ingest on the same machine and disk.
func measureIngest(ctx context.Context, st *store.Store, dir string, rep *SearchReport, runFor time.Duration, progress io.Writer) error {
	fmt.Fprintln(progress, "measuring ingest alone and while searching")
	// run appends for runFor, as fast as the writers go (rate 0) or at rate
	// appends a second in all, with searches back to back if searching.
	runs := 0
	run := func(searching bool, share, rate float64) (offeredRun, error) {
		// Each run appends to streams of its own: appends at offsets a
		// stream already holds are duplicates the store acknowledges
		// without writing.
		runs++
		runNo := runs
		wctx, cancel := context.WithTimeout(ctx, runFor)
		defer cancel()
		var out offeredRun
		done := make(chan error, 1)
		if searching {
			go func() {
				qs := []search.Query{{Pattern: "Out of memory: Killed process"}, {Pattern: "session"}}
				for i := 0; wctx.Err() == nil; i++ {
					m, _ := search.Compile(qs[i%len(qs)])
					if _, err := search.Run(wctx, st, search.Request{Matcher: m, Hosts: "lab-*", Count: true, Share: share}, nil); err != nil && wctx.Err() == nil {
						done <- err
						return
					}
					out.Searches++
				}
				done <- nil
			}()
		}
		const writers = 32
		var n atomic.Int64
		var appendErr atomic.Pointer[error] // the first append that failed
		var wg sync.WaitGroup
		lats := make([][]time.Duration, writers)
		data := ingestAppend
		start := time.Now()
		for w := range writers {
			wg.Go(func() {
				k := store.Key{Host: fmt.Sprintf("ingest-%02d", w), Stream: fmt.Sprintf("run-%d", runNo)}
				var off int64
				var every time.Duration
				next := start
				if rate > 0 {
					every = time.Duration(float64(writers) / rate * float64(time.Second))
					next = start.Add(every * time.Duration(w) / writers) // spread the writers
				}
				for wctx.Err() == nil {
					if rate > 0 {
						if d := time.Until(next); d > 0 {
							select {
							case <-time.After(d):
							case <-wctx.Done():
								return
							}
						}
					} else {
						next = time.Now()
					}
					if _, err := store.Append(wctx, st, k, off, store.Gen{}, data); err != nil {
						if wctx.Err() == nil {
							// A failing store must not pass for a slow one.
							aerr := fmt.Errorf("append to %s at %d: %w", k, off, err)
							appendErr.CompareAndSwap(nil, &aerr)
						}
						return
					}
					lats[w] = append(lats[w], time.Since(next))
					next = next.Add(every)
					off += int64(len(data))
					n.Add(1)
				}
			})
		}
		wg.Wait()
		var err error
		if searching {
			err = <-done
		}
		if aerr := appendErr.Load(); aerr != nil && err == nil {
			err = *aerr
		}
		all := slices.Concat(lats...)
		slices.Sort(all)
		if len(all) > 0 {
			out.P50, out.P99 = all[len(all)/2], all[len(all)*99/100]
		}
		out.Rate = float64(n.Load()) / runFor.Seconds()
		// The next run starts once the background indexer and filter
		// builder caught up with this one's bytes: else it pays for them.
		if werr := waitForFilters(ctx, dir); err == nil {
			err = werr
		}
		return out, err
	}
	// Alone and paced in turn, three times each, as the disk's sync
	// latency drifts (a shared disk): the medians are compared.
	var alone, paced []offeredRun
	for i := range ingestPairs {
		// Alone first, then paced first (ABBA...): the store grows and
		// caches warm from run to run, which would favour the later one.
		for _, searching := range [][2]bool{{false, true}, {true, false}}[i%2] {
			share := 0.0
			if searching {
				share = rep.Share
			}
			r, err := run(searching, share, 0)
			if err != nil {
				return err
			}
			if searching {
				paced = append(paced, r)
			} else {
				alone = append(alone, r)
			}
		}
	}
	unpaced, err := run(true, 0, 0)
	if err != nil {
		return err
	}
	rep.IngestUnpaced, rep.SearchesUnpaced = unpaced.Rate, unpaced.Searches
	byRate := func(a, b offeredRun) int { return cmp.Compare(a.Rate, b.Rate) }
	slices.SortFunc(alone, byRate)
	slices.SortFunc(paced, byRate)
	rep.IngestAlone, rep.IngestAloneRange = alone[len(alone)/2].Rate, [2]float64{alone[0].Rate, alone[len(alone)-1].Rate}
	mid := paced[len(paced)/2]
	rep.IngestSearched, rep.SearchesDuring = mid.Rate, mid.Searches
	rep.IngestSearchedRange = [2]float64{paced[0].Rate, paced[len(paced)-1].Rate}
	rep.Offered = rep.IngestAlone / 4
	fmt.Fprintf(progress, "ingest at an offered %.0f appends/s\n", rep.Offered)
	if rep.OfferedAlone, err = run(false, 0, rep.Offered); err != nil {
		return err
	}
	rep.OfferedSearch, err = run(true, rep.Share, rep.Offered)
	return err
}

// openSearchStore opens the local store in dir as a receiver does, with
// search filters built for sealed segments.
func openSearchStore(dir string, now func() time.Time) (*store.Store, func(), error) {
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	st, err := store.Open(store.Options{Dir: dir, Sync: g, BuildFilter: search.FilterOf, Now: now})
	if err != nil {
		cancel()
		<-done
		return nil, nil, err
	}
	return st, func() { st.Close(); cancel(); <-done }, nil
}

// fleetDay is the day the generated logs are stamped with.
var fleetDay = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// writeLocalFleet generates the fleet's logs into a local store in dir,
// each append stamped with its time of the day.
func writeLocalFleet(ctx context.Context, dir string, opt SearchOptions) (int64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	var now time.Time
	st, closeStore, err := openSearchStore(dir, func() time.Time { return now })
	if err != nil {
		return 0, err
	}
	defer closeStore()
	return generateFleetLogs(ctx, opt, func(k store.Key, off int64, at time.Time, data []byte) error {
		now = at
		_, err := store.Append(ctx, st, k, off, store.Gen{}, data)
		return err
	})
}

// generateFleetLogs makes a day of syslog-like lines for every host, in
// appends of about 256 KiB that cut lines anywhere, with rare lines
// planted here and there, and hands each append to put, in order (data is
// reused once put returns); it returns the bytes put. The same options
// make the same appends.
func generateFleetLogs(ctx context.Context, opt SearchOptions, put func(k store.Key, off int64, at time.Time, data []byte) error) (int64, error) {
	t := fleetDay
	rng := rand.New(rand.NewPCG(21, 1))
	words := strings.Fields("sshd accepted publickey for student from port session opened closed by user cron job started systemd unit finished successfully NetworkManager dhcp lease renewed kernel usb device connected disk mounted pam_unix authentication failure")
	per := int64(256 << 10)
	appends := opt.Bytes / per
	step := 24 * time.Hour / time.Duration(max(appends, 1))
	offs := make(map[store.Key]int64)
	var total int64
	var b []byte
	for i := range appends {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		k := store.Key{Host: fmt.Sprintf("lab-%03d", rng.IntN(opt.Hosts)), Stream: []string{"syslog", "auth.log", "kern.log"}[rng.IntN(3)]}
		b = b[:0]
		for int64(len(b)) < per {
			b = fmt.Appendf(b, "%s %s ", t.Format(time.Stamp), k.Host)
			for j := range 6 + rng.IntN(10) {
				if j > 0 {
					b = append(b, ' ')
				}
				b = append(b, words[rng.IntN(len(words))]...)
			}
			// Numbers and ids, as real logs have them: most of a
			// block's distinct tokens, and so of its filter's size.
			switch rng.IntN(4) {
			case 0:
				b = fmt.Appendf(b, " pid=%d port %d", rng.IntN(1<<22), rng.IntN(65536))
			case 1:
				b = fmt.Appendf(b, " from 10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256))
			case 2:
				b = fmt.Appendf(b, " session %016x", rng.Uint64())
			}
			switch rng.IntN(200000) {
			case 0:
				b = append(b, " "+plantOOM...)
			case 1:
				b = append(b, " "+plantSegfault...)
			case 2:
				b = append(b, " "+plantRequest...)
			}
			b = append(b, '\n')
		}
		data := b[:per] // cut mid-line: the rest is lost, as a line is anyway
		if err := put(k, offs[k], t, data); err != nil {
			return total, err
		}
		offs[k] += int64(len(data))
		total += int64(len(data))
		t = t.Add(step)
		if i%1024 == 1023 {
			fmt.Fprintf(opt.Progress, "  %s written\n", human.Bytes(total))
		}
	}
	return total, nil
}

// waitForFilters waits until every sealed segment in dir has its filters.
func waitForFilters(ctx context.Context, dir string) error {
	for {
		logs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
		flts, _ := filepath.Glob(filepath.Join(dir, "*.flt"))
		if len(logs) <= 1 || len(flts) >= len(logs)-1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type searchTiming struct {
	elapsed, first time.Duration
	sum            search.Summary
}

// timeSearch runs one search over src, in this process.
func timeSearch(ctx context.Context, src search.Source, m *search.Matcher, count bool) (searchTiming, error) {
	runtime.GC()
	var r searchTiming
	start := time.Now()
	sum, err := search.Run(ctx, src, search.Request{Matcher: m, Count: count}, func(search.Result) error {
		if r.first == 0 {
			r.first = time.Since(start)
		}
		return nil
	})
	r.elapsed, r.sum = time.Since(start), sum
	return r, err
}

// heapOfSearch runs one search over src, sampling the heap's growth every
// 2 ms: in a run of its own, as reading the heap's size stops the world.
func heapOfSearch(ctx context.Context, src search.Source, m *search.Matcher) (int64, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapAlloc)
	stop := make(chan struct{})
	peakc := make(chan int64)
	go func() {
		var peak int64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, int64(ms.HeapAlloc)-base)
			select {
			case <-stop:
				peakc <- peak
				return
			case <-t.C:
			}
		}
	}()
	_, err := search.Run(ctx, src, search.Request{Matcher: m}, func(search.Result) error { return nil })
	close(stop)
	return <-peakc, err
}

// timeRG runs ripgrep and returns its time and the matching lines it
// counted.
func timeRG(ctx context.Context, rg string, args []string) (time.Duration, int64, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, rg, args...).Output()
	d := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: nothing matched
		return 0, 0, fmt.Errorf("%s: %w", rg, err)
	}
	var n int64
	for _, l := range strings.Fields(string(out)) {
		var c int64
		fmt.Sscan(l, &c)
		n += c
	}
	return d, n, nil
}

// dropCaches empties the page cache (root only), for cold figures.
func dropCaches() error {
	exec.Command("sync").Run()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// FormatSearch prints the report as bench/README.md shows it.
// With Backend pgs3 or both, postgres+s3's table follows.
func FormatSearch(w io.Writer, r *SearchReport) {
	if r.Backend != SearchPGS3 {
		formatLocalSearch(w, r)
	}
	if r.PG != nil {
		if r.Backend == SearchBoth {
			fmt.Fprintln(w)
		}
		FormatPGSearch(w, r)
	}
}

// millis is d in whole milliseconds, – if not measured.
func millis(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
}

// formatLocalSearch prints what was measured on the local store.
func formatLocalSearch(w io.Writer, r *SearchReport) {
	gib := float64(r.DataBytes) / (1 << 30)
	fmt.Fprintf(w, "%d hosts, %s of logs (%.2f GiB) written in %s; filters %s (%.1f %% of the data), built in %s at start-up (%.1f s per GiB)\n\n",
		r.Hosts, human.Bytes(r.DataBytes), gib, r.Generate.Round(time.Second), human.Bytes(r.FilterBytes),
		100*float64(r.FilterBytes)/float64(max(r.DataBytes, 1)), r.FilterBuild.Round(10*time.Millisecond), r.FilterBuild.Seconds()/gib)
	fmt.Fprintln(w, "| search | hits (rg) | cis490 warm, counting | per GiB | with every hit | first hit | cold | skipped by filters | heap growth | rg -c warm | rg -c cold | cis490 / rg (warm) |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, q := range r.Queries {
		ratio := "–"
		if q.RGWarm > 0 {
			ratio = fmt.Sprintf("%.2f×", q.Warm.Seconds()/q.RGWarm.Seconds())
		}
		fmt.Fprintf(w, "| %s | %d (%d) | %s | %s | %s | %s | %s | %.0f %% | %s | %s | %s | %s |\n",
			q.Name, q.Hits, q.RGHits, millis(q.Warm), millis(time.Duration(float64(q.Warm)/gib)), millis(q.WithHits), millis(q.First), millis(q.Cold),
			100*float64(q.Skipped)/float64(max(q.Skipped+q.Scanned, 1)), human.Bytes(q.PeakMem), millis(q.RGWarm), millis(q.RGCold), ratio)
	}
	if !r.Cold {
		fmt.Fprintln(w, "\n(cold figures need root, to drop the page cache)")
	}
	fmt.Fprintf(w, "\ningest, 32 writers of 4 KiB into the same store, %s each, %d runs alone and %d paced in turn (medians; lowest–highest): %.0f appends/s alone (%.0f–%.0f); %.0f (%.2f×; %.0f–%.0f) while searches paced to %g of a CPU ran back to back (%d searches); %.0f (%.2f×) while unpaced ones did (%d)\n",
		r.IngestFor, ingestPairs, ingestPairs, r.IngestAlone, r.IngestAloneRange[0], r.IngestAloneRange[1],
		r.IngestSearched, r.IngestSearched/max(r.IngestAlone, 1), r.IngestSearchedRange[0], r.IngestSearchedRange[1], r.Share, r.SearchesDuring,
		r.IngestUnpaced, r.IngestUnpaced/max(r.IngestAlone, 1), r.SearchesUnpaced)
	lat := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "ingest offered at %.0f appends/s (a quarter of alone), %s each: alone %.0f appends/s, p50 %s, p99 %s; while paced searches ran back to back (%d searches) %.0f (%.2f×), p50 %s, p99 %s\n",
		r.Offered, r.IngestFor, r.OfferedAlone.Rate, lat(r.OfferedAlone.P50), lat(r.OfferedAlone.P99), r.OfferedSearch.Searches,
		r.OfferedSearch.Rate, r.OfferedSearch.Rate/max(r.OfferedAlone.Rate, 1), lat(r.OfferedSearch.P50), lat(r.OfferedSearch.P99))
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/store"
)

// BuildOptions say what store BuildStore writes: Appends appends of Size
// bytes, the Hosts × Streams streams taking turns, stamped evenly from From
// to To.
type BuildOptions struct {
	Data     string // the receiver's data folder
	Appends  int64
	Size     int
	Hosts    int // bench-0 …
	Streams  int // per host
	From, To time.Time
	// DurableEvery is how many appends go between two waits for the group
	// commit (default 4096): waiting on each would be one fsync per append.
	DurableEvery int
	// Hold leaves the store open after the result is reported, until ctx
	// ends, so the caller can SIGKILL the process with an unsealed segment
	// and index lines written since the last index sync.
	Hold     bool
	Progress io.Writer
	Log      *slog.Logger
}

// BuildResult is what BuildStore wrote, reported as a JSON line.
type BuildResult struct {
	Appends int64         `json:"appends"`
	Bytes   int64         `json:"bytes"`   // stream bytes
	Elapsed time.Duration `json:"elapsed"` // appends until the last is durable
	Disk    int64         `json:"disk"`    // data/logs + data/index once durable
}

// Rate is appends per second.
func (r BuildResult) Rate() float64 { return float64(r.Appends) / max(r.Elapsed.Seconds(), 1e-9) }

// streamNames are the stream names a lab host ships most; more streams
// per host than these are numbered.
var streamNames = []string{"syslog", "auth.log", "kern.log", "nginx.access", "cron", "dpkg.log"}

// buildKeys are the streams the builder writes, round-robin.
func buildKeys(hosts, streams int) ([]store.Key, error) {
	keys := make([]store.Key, 0, hosts*streams)
	for h := range hosts {
		for s := range streams {
			name := fmt.Sprintf("stream-%d", s)
			if s < len(streamNames) {
				name = streamNames[s]
			}
			if err := names.Stream(name); err != nil {
				return nil, err
			}
			keys = append(keys, store.Key{Host: fmt.Sprintf("bench-%d", h), Stream: name})
		}
	}
	return keys, nil
}

// simClock is the time the store and the index see: the builder moves it
// along the simulated history before each append.
type simClock struct{ ns atomic.Int64 }

func (c *simClock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *simClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *simClock) at(i, n int64, from, to time.Time) time.Time {
	return from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / float64(max(n, 1))))
}

// BuildStore writes the store with the receiver's own storage code, the way
// the receiver writes a 201 PUT: the bytes (store.Begin) and then the
// request's index line, journaled in the same group commit. It reports the
// result on out as one JSON line once everything is durable, then closes
// the store (or, with Hold, waits for ctx to end).
func BuildStore(ctx context.Context, o BuildOptions, out io.Writer) error {
	o.DurableEvery = cmp0(o.DurableEvery, 4096)
	keys, err := buildKeys(o.Hosts, o.Streams)
	if err != nil {
		return err
	}
	clock := &simClock{}
	clock.set(o.From)
	// Defaults as the receiver's config has them, less what would refuse or
	// drop a benchmark's appends: no quotas, no free-space floor, no
	// retention.
	stg, err := receiverd.OpenStorage(o.Data, store.Options{Now: clock.Now}, o.Log)
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	// Sync the index as the receiver does, so a killed build leaves what a
	// killed receiver would.
	sctx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	go stg.SyncIndex(sctx, time.Minute, o.Log)
	res, err := appendAll(ctx, stg, o, keys, clock)
	if err != nil {
		stg.Close()
		return err
	}
	if res.Disk, err = storeDisk(o.Data); err != nil {
		stg.Close()
		return err
	}
	if o.Hold {
		if err := json.NewEncoder(out).Encode(res); err != nil {
			return err
		}
		<-ctx.Done() // SIGKILL comes first; a SIGTERM closes cleanly
		return stg.Close()
	}
	if err := stg.Close(); err != nil {
		return fmt.Errorf("close the store: %w", err)
	}
	return json.NewEncoder(out).Encode(res)
}

// appendAll makes o.Appends appends, waiting for the group commit of the
// previous DurableEvery appends as it goes (so the fsync of one batch
// overlaps the writes of the next), and for the last at the end.
func appendAll(ctx context.Context, stg *receiverd.Storage, o BuildOptions, keys []store.Key, clock *simClock) (BuildResult, error) {
	offsets := make([]int64, len(keys))
	for i, k := range keys { // an earlier build's streams go on
		if info, ok, _ := stg.Store.Stat(ctx, k); ok {
			offsets[i] = info.Length
		}
	}
	makers := make([]*LineMaker, o.Hosts)
	for h := range makers {
		makers[h] = NewLineMaker(uint64(h)+1, keys[h*o.Streams].Host)
	}
	var res BuildResult
	var batch, last groupsync.Ticket
	start := time.Now()
	prog := newBuildProgress(o, start)
	for i := range o.Appends {
		k := int(i % int64(len(keys)))
		ts := clock.at(i, o.Appends, o.From, o.To)
		clock.set(ts)
		t, err := buildAppend(ctx, stg, keys[k], &offsets[k], makers[k/o.Streams].Line(o.Size), ts)
		if err != nil {
			return res, err
		}
		last = t
		res.Appends++
		res.Bytes += int64(o.Size)
		if res.Appends%int64(o.DurableEvery) == 0 {
			if err := stg.Sync.Wait(ctx, batch); err != nil {
				return res, err
			}
			batch = last
			prog.report(res)
		}
	}
	if err := stg.Sync.Wait(ctx, last); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// buildAppend appends data to key at *off and then its index line, as the
// receiver's PUT handler does, and returns the ticket that covers both.
func buildAppend(ctx context.Context, stg *receiverd.Storage, key store.Key, off *int64, data []byte, ts time.Time) (groupsync.Ticket, error) {
	b, err := stg.Store.Begin(ctx, key, *off, store.Gen{ID: "2049-" + key.Stream + "-1-0"}, data)
	if err != nil {
		return 0, fmt.Errorf("append to %s at %d: %w", key, *off, err)
	}
	*off = b.Length
	l := fleetLine(ts, key.Host, 0)
	l.Bytes, l.Stream, l.Remote, l.DurMS = int64(len(data)), key.Stream, "127.0.0.1:41234", 0.4
	t, err := stg.Index.Append(l)
	if err != nil {
		return 0, fmt.Errorf("index line: %w", err)
	}
	return t, nil
}

// buildProgress prints appends/s and the store's size every few seconds.
type buildProgress struct {
	o          BuildOptions
	start, due time.Time
}

func newBuildProgress(o BuildOptions, start time.Time) *buildProgress {
	return &buildProgress{o: o, start: start, due: start.Add(2 * time.Second)}
}

func (p *buildProgress) report(r BuildResult) {
	now := time.Now()
	if p.o.Progress == nil || now.Before(p.due) {
		return
	}
	disk, _ := storeDisk(p.o.Data)
	fmt.Fprintf(p.o.Progress, "  built %s of %s appends (%.0f%%), %s appends/s, %.2f GB on disk\n",
		Thousands(float64(r.Appends)), Thousands(float64(p.o.Appends)), 100*float64(r.Appends)/float64(p.o.Appends),
		Thousands(float64(r.Appends)/now.Sub(p.start).Seconds()), float64(disk)/1e9)
	p.due = now.Add(5 * time.Second)
}

// storeDisk is the bytes of the store's segments and the index files.
func storeDisk(data string) (int64, error) {
	var n int64
	for _, dir := range []string{datadir.Dir(data).Logs(), datadir.Dir(data).Index()} {
		err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err == nil {
				n += info.Size()
			}
			return err
		})
		if err != nil && !os.IsNotExist(err) {
			return n, fmt.Errorf("size of %s: %w", dir, err)
		}
	}
	return n, nil
}

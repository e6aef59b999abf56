package shipper

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// Options configure a Shipper.
type Options struct {
	Config *config.LabHost
	Client *transport.Client
	Log    *slog.Logger
	// Poll is how often sources are looked at without inotify (default
	// 250ms); with it, a change wakes the stream and this is only the
	// fallback (default 10s, catching what a watch can miss).
	Poll time.Duration
	// ShuttingDown tells a machine shutdown from a service stop; default
	// asks systemd.
	ShuttingDown func() bool
}

// Shipper ships every configured source and heartbeats while idle.
type Shipper struct {
	opt      Options
	streams  []*stream
	sent     atomic.Int64 // unix nanoseconds of the last acknowledged request
	watch    *watch       // nil: polling only
	pollSet  bool         // Poll was given: keep it even with inotify
	cps      *Checkpoints
	globs    []config.Source   // glob sources: their files are found while running
	journals []*journalStream  // [[journal]] sources
	names    map[string]string // stream name -> path, to refuse collisions
	mu       sync.Mutex        // guards names while globs add streams
	mem      *budget           // bytes read and not yet acknowledged, all streams
}

// WatchedPoll is how often a stream whose folder inotify watches looks at
// its file anyway: a fallback for events lost (an inotify overflow wakes
// every stream at once), so slow that an idle shipper costs next to
// nothing.
const WatchedPoll = time.Minute

// MemoryBudget is how many bytes all streams together may hold read but
// not yet acknowledged: four batches, and at least 4 MiB. It bounds the
// shipper's memory whatever the backlog and however many sources have one.
func MemoryBudget(maxBytes int64) int64 { return max(4*maxBytes, 4<<20) }

func (s *Shipper) newStream(name, path string) *stream {
	st := newStream(streamOptions{Name: name, Path: path, MaxBytes: int(s.opt.Config.Batch.MaxBytes),
		MaxWait: s.opt.Config.Batch.MaxWait.Duration(), Poll: s.opt.Poll, Log: s.opt.Log.With("stream", name)}, s.cps, s.opt.Client, s.mem)
	st.onSent = func() { s.sent.Store(time.Now().UnixNano()) }
	return st
}

func (s *Shipper) newJournalStream(src config.Journal) *journalStream {
	js := newJournalStream(journalOptions{Name: src.Stream, Source: src, MaxBytes: int(s.opt.Config.Batch.MaxBytes),
		MaxWait: s.opt.Config.Batch.MaxWait.Duration(), Log: s.opt.Log.With("stream", src.Stream)}, s.cps, s.opt.Client)
	js.onSent = func() { s.sent.Store(time.Now().UnixNano()) }
	return js
}

// New prepares the streams of every source.
func New(opt Options) (*Shipper, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	pollSet := opt.Poll > 0
	if !pollSet {
		opt.Poll = 250 * time.Millisecond
	}
	if opt.ShuttingDown == nil {
		opt.ShuttingDown = systemShuttingDown
	}
	cps, err := OpenCheckpoints(filepath.Join(opt.Config.StateDir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	s := &Shipper{opt: opt, cps: cps, pollSet: pollSet, mem: newBudget(MemoryBudget(int64(opt.Config.Batch.MaxBytes)))}
	seen := map[string]string{}
	for _, src := range opt.Config.Sources {
		if src.IsGlob() {
			s.globs = append(s.globs, src)
			continue
		}
		name := src.Stream
		if name == "" {
			name = StreamName(src.Path)
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("sources %s and %s would both ship as stream %q; give one of them `stream = \"...\"`", other, src.Path, name)
		}
		seen[name] = src.Path
		s.streams = append(s.streams, s.newStream(name, src.Path))
	}
	for _, src := range opt.Config.Journals {
		if other, dup := seen[src.Stream]; dup {
			return nil, fmt.Errorf("source %s and a [[journal]] would both ship as stream %q; give the journal `stream = \"...\"`", other, src.Stream)
		}
		seen[src.Stream] = "journal"
		s.journals = append(s.journals, s.newJournalStream(src))
	}
	s.names = seen
	if s.watch = newWatch(s.streams, opt.Log); s.watch != nil && !pollSet {
		for _, st := range s.streams {
			st.opt.Poll = WatchedPoll
		}
	}
	return s, nil
}

// StreamName is the stream a plain path ships as when the config names
// none: its base name, with every byte a stream name cannot hold replaced
// by '_' (and a leading one by 'x').
func StreamName(path string) string {
	b := []byte(filepath.Base(path))
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			b[i] = '_'
			if i == 0 {
				b[i] = 'x'
			}
		}
	}
	if len(b) > names.MaxStream {
		b = b[:names.MaxStream]
	}
	return string(b)
}

// Run ships until ctx ends. On a machine shutdown it tells the receiver.
func (s *Shipper) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.watch != nil {
		wg.Go(func() { s.watch.run(ctx) })
	}
	var errMu sync.Mutex
	var firstErr error
	start := func(st *stream) {
		wg.Go(func() {
			if err := st.run(ctx); err != nil {
				errMu.Lock()
				firstErr = cmp.Or(firstErr, err)
				errMu.Unlock()
			}
		})
	}
	for _, st := range s.streams {
		start(st)
	}
	for _, src := range s.globs {
		wg.Go(func() { s.followGlob(ctx, src, start) })
	}
	for _, js := range s.journals {
		wg.Go(func() { js.run(ctx) })
	}
	wg.Go(func() { s.heartbeat(ctx) })
	wg.Wait()
	if ctx.Err() != nil && s.opt.ShuttingDown() {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.opt.Client.Heartbeat(hctx, wire.StateShutdown); err != nil {
			s.opt.Log.Warn("could not tell the receiver the machine is shutting down", "err", err)
		}
	}
	return firstErr
}

// followGlob starts a stream for every file the glob matches and its
// exclude list does not, now and as files appear, rescanning every few
// seconds.
func (s *Shipper) followGlob(ctx context.Context, src config.Source, start func(*stream)) {
	pattern := src.Path
	followed := map[string]bool{}
	for {
		for _, f := range globFiles(pattern, followed) {
			if followed[f] {
				continue
			}
			followed[f] = true
			if excluded(src.Exclude, f) {
				continue
			}
			name := GlobStream(pattern, f)
			s.mu.Lock()
			other, dup := s.names[name]
			if !dup {
				s.names[name] = f
			}
			s.mu.Unlock()
			if dup {
				s.opt.Log.Error("two sources would ship as one stream; not following the second", "stream", name, "first", other, "second", f)
				continue
			}
			st := s.newStream(name, f)
			if s.watch != nil && s.watch.add(st) && !s.pollSet {
				st.opt.Poll = WatchedPoll
			}
			start(st)
		}
		if !sleep(ctx, 2*time.Second, nil, nil) {
			return
		}
	}
}

// excluded reports whether file's base name matches one of patterns.
func excluded(patterns []string, file string) bool {
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, filepath.Base(file)); ok {
			return true
		}
	}
	return false
}

// heartbeat says the host is alive whenever nothing was acknowledged for a
// heartbeat interval, and once at start.
func (s *Shipper) heartbeat(ctx context.Context) {
	every := s.opt.Config.Heartbeat.Duration()
	if every <= 0 {
		every = 5 * time.Minute
	}
	beat := func() {
		if err := s.opt.Client.Heartbeat(ctx, wire.StateUp); err == nil {
			s.sent.Store(time.Now().UnixNano())
		} else if ctx.Err() == nil {
			s.opt.Log.Warn("heartbeat failed", "err", err)
		}
	}
	beat()
	t := time.NewTicker(every / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, s.sent.Load())) >= every {
				beat()
			}
		}
	}
}

// systemShuttingDown asks systemd whether the machine is going down (as
// opposed to this service merely being stopped or restarted).
func systemShuttingDown() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "systemctl", "is-system-running").Output()
	return strings.TrimSpace(string(out)) == "stopping"
}

// Package migrate copies a receiver's local data folder into the
// postgres+s3 backend: every stream with its offsets, times and
// generation, every index line, day by day, and the state beside them
// (tokens, the CA's ledger, revocations, doctor snapshots, releases,
// removed hosts, the detector's state, silences and alerts; not the
// dashboard's sessions). It never changes the folder (it reads it through
// vfs.ReadOnly and the local stores' readers, and refuses while a receiver
// holds it), resumes where an interrupted run stopped (a stream continues
// from the length the backend holds; a day is imported whole or not at
// all; state the backend has is skipped), and ends by verifying every
// stream's start, length, generation and a hash of its bytes, each day's
// count of index lines, and that the backend holds the folder's state.
package migrate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/vfs"
)

// Options say what to copy where.
type Options struct {
	DataDir  string        // the local data folder
	Backend  *pgs3.Backend // where it goes
	Parallel int           // streams copied at once (default 8)
	Out      io.Writer     // progress, one line per step
	Log      *slog.Logger
}

// Report is what a run copied and checked.
type Report struct {
	Streams      int   // streams in the folder
	Bytes        int64 // bytes copied this run
	Days         int   // index day files
	Lines        int64 // index lines copied this run
	SkippedLines int64 // lines of the day files that are not index lines
	// State counts, by step ("trust", "host-health", "releases",
	// "removed hosts", "detector"), what this run copied of the state
	// beside the streams: all zero when the backend had it all.
	State map[string]int
}

// Run copies the folder and verifies the copy.
func Run(ctx context.Context, o Options) (Report, error) {
	var rep Report
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	dir := datadir.Dir(o.DataDir)
	if _, err := os.Stat(dir.Logs()); err != nil {
		return rep, fmt.Errorf("no logs folder in %s: is data_dir the receiver's data folder? %w", o.DataDir, err)
	}
	unlock, err := vfs.TryLock(dir.ReceiverLock(), fmt.Sprintf("cis490 migrate (pid %d)", os.Getpid()))
	if err != nil {
		return rep, fmt.Errorf("a receiver is using %s: %w", o.DataDir, err)
	}
	defer unlock()
	st, err := openReadOnly(o.DataDir, o.Log)
	if err != nil {
		return rep, err
	}
	defer st.Close()

	keys := allStreams(ctx, st)
	rep.Streams = len(keys)
	fmt.Fprintf(o.Out, "streams: %d to copy\n", len(keys))
	if rep.Bytes, err = copyStreams(ctx, st, o.Backend.Streams(), keys, o.Parallel); err != nil {
		return rep, err
	}
	fmt.Fprintf(o.Out, "streams: copied %d bytes\n", rep.Bytes)
	days, err := index.Files(vfs.OS{}, dir.Index())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("list the index's day files: %w", err)
	}
	rep.Days = len(days)
	if err := copyIndex(ctx, dir.Index(), days, o.Backend.Lines(), &rep); err != nil {
		return rep, err
	}
	fmt.Fprintf(o.Out, "index: %d day files, copied %d lines (%d skipped: not index lines)\n", len(days), rep.Lines, rep.SkippedLines)
	if err := copyState(ctx, dir, o.Backend, o.Out, &rep); err != nil {
		return rep, err
	}
	if err := verify(ctx, st, o.Backend, keys, dir.Index(), days); err != nil {
		return rep, err
	}
	fmt.Fprintf(o.Out, "verified: every stream's start, length, generation and bytes (SHA-256), and every day's index line count\n")
	if err := verifyState(ctx, dir, o.Backend, o.Out); err != nil {
		return rep, err
	}
	return rep, nil
}

// openReadOnly opens the local store without changing a byte of it: a
// folder a crash left needing recovery (a torn tail to cut) is refused.
func openReadOnly(dataDir string, log *slog.Logger) (*store.Store, error) {
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { g.Run(ctx) })
	st, err := store.Open(store.Options{Dir: datadir.Dir(dataDir).Logs(), FS: vfs.ReadOnly{}, Sync: g, Log: log,
		// The index is read from its day files: a stopped receiver synced
		// every line there. The journal is not replayed (that would write).
		OnJournal: func(uint64, []byte) {}, JournalSafe: func() (uint64, error) { return 0, errors.New("read-only") }})
	cancel()
	wg.Wait()
	if errors.Is(err, vfs.ErrReadOnly) {
		return nil, fmt.Errorf("the data folder needs a recovery first (the receiver did not stop cleanly): start the receiver once on the local backend and stop it, then migrate: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open the local store: %w", err)
	}
	return st, nil
}

func allStreams(ctx context.Context, st *store.Store) []store.Key {
	var keys []store.Key
	hosts := st.Hosts()
	sort.Strings(hosts)
	for _, h := range hosts {
		infos, _ := st.List(ctx, h)
		for _, in := range infos {
			keys = append(keys, store.Key{Host: h, Stream: in.Stream})
		}
	}
	return keys
}

// copyStreams copies each stream from where the backend's copy ends.
func copyStreams(ctx context.Context, st *store.Store, dst *pgs3.Streams, keys []store.Key, parallel int) (int64, error) {
	var mu sync.Mutex
	var total int64
	var first error
	work := make(chan store.Key)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for k := range work {
				n, err := copyStream(ctx, st, dst, k)
				mu.Lock()
				total += n
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		work <- k
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return total, first
}

func copyStream(ctx context.Context, st *store.Store, dst *pgs3.Streams, k store.Key) (int64, error) {
	src, _, _ := st.Stat(ctx, k)
	if err := dst.CreateAt(ctx, k, src.Start); err != nil {
		return 0, err
	}
	have, _, err := dst.Stat(ctx, k)
	if err != nil {
		return 0, err
	}
	if have.Start > src.Start {
		return 0, fmt.Errorf("stream %s starts at %d in the backend but at %d here: was it copied from another folder?", k, have.Start, src.Start)
	}
	if have.Start < src.Start { // the folder's retention ran since the last copy
		if err := dst.MoveStart(ctx, k, src.Start); err != nil {
			return 0, err
		}
	}
	gen := store.Gen{ID: src.Gen, Start: src.GenStart}
	var copied int64
	err = st.Extents(k, have.Length, func(e store.Extent) error {
		data, _, err := st.Read(ctx, k, e.Off, int(e.N))
		if err != nil {
			return err
		}
		b, err := dst.Import(ctx, k, e.Off, gen, e.Time, data)
		if err != nil {
			return fmt.Errorf("copy %s at %d: %w", k, e.Off, err)
		}
		copied += b.Appended
		return nil
	})
	return copied, err
}

// copyIndex copies the lines of each day file the backend lacks.
func copyIndex(ctx context.Context, folder string, days []string, dst *pgs3.Lines, rep *Report) error {
	done, err := dst.ImportedDays(ctx)
	if err != nil {
		return err
	}
	for _, day := range days {
		f, err := os.Open(filepath.Join(folder, day))
		if err != nil {
			return fmt.Errorf("open index day %s: %w", day, err)
		}
		n, skipped, err := dst.ImportDay(ctx, day, f, done[day])
		f.Close()
		if err != nil {
			return err
		}
		rep.Lines += n
		rep.SkippedLines += skipped
	}
	return nil
}

// verify compares every stream and every day.
func verify(ctx context.Context, st *store.Store, b *pgs3.Backend, keys []store.Key, folder string, days []string) error {
	dst := b.Streams()
	for _, k := range keys {
		src, _, _ := st.Stat(ctx, k)
		got, ok, err := dst.Stat(ctx, k)
		if err != nil {
			return err
		}
		if !ok || got.Start != src.Start || got.Length != src.Length || got.Gen != src.Gen || got.GenStart != src.GenStart {
			return fmt.Errorf("verify %s: the backend holds start %d, length %d, generation %q from %d; the folder %d, %d, %q from %d",
				k, got.Start, got.Length, got.Gen, got.GenStart, src.Start, src.Length, src.Gen, src.GenStart)
		}
		h1, err := hashStream(ctx, st, k, src.Start, src.Length)
		if err != nil {
			return err
		}
		h2, err := hashStream(ctx, dst, k, src.Start, src.Length)
		if err != nil {
			return err
		}
		if h1 != h2 {
			return fmt.Errorf("verify %s: its bytes differ between the folder and the backend (SHA-256 %x here, %x there)", k, h1[:8], h2[:8])
		}
	}
	imported, err := b.Lines().ImportedDays(ctx)
	if err != nil {
		return err
	}
	for _, day := range days {
		f, err := os.Open(filepath.Join(folder, day))
		if err != nil {
			return err
		}
		n, err := countLines(f)
		f.Close()
		if err != nil {
			return err
		}
		if imported[day] != n {
			return fmt.Errorf("verify index day %s: %d index lines here, %d in the backend", day, n, imported[day])
		}
	}
	return nil
}

func hashStream(ctx context.Context, s store.Streams, k store.Key, from, to int64) ([32]byte, error) {
	h := sha256.New()
	for off := from; off < to; {
		b, _, err := s.Read(ctx, k, off, int(min(to-off, 4<<20)))
		if err != nil {
			return [32]byte{}, fmt.Errorf("read %s at %d: %w", k, off, err)
		}
		if len(b) == 0 {
			return [32]byte{}, fmt.Errorf("read %s at %d: nothing there, %d bytes short", k, off, to-off)
		}
		h.Write(b)
		off += int64(len(b))
	}
	return [32]byte(h.Sum(nil)), nil
}

// countLines counts a day file's index lines as ImportDay takes them.
func countLines(r io.Reader) (int64, error) {
	var n int64
	err := pgs3.EachIndexLine(r, func() { n++ })
	return n, err
}

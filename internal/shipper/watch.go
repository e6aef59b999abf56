package shipper

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// watch wakes a stream when its file's directory reports a change to the
// file or to a name beginning with it (a rotated copy), so an idle shipper
// does no work until something is written. Without inotify (or when a
// directory cannot be watched) streams fall back to polling.
type watch struct {
	w   *fsnotify.Watcher
	log *slog.Logger

	mu      sync.Mutex
	byDir   map[string][]*stream
	streams []*stream
}

// newWatch watches the folders of every stream, or returns nil.
func newWatch(streams []*stream, log *slog.Logger) *watch {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("inotify unavailable; polling the sources", "err", err)
		return nil
	}
	wt := &watch{w: w, byDir: map[string][]*stream{}, log: log}
	for _, st := range streams {
		if !wt.add(st) {
			w.Close()
			return nil
		}
	}
	return wt
}

// add watches st's folder; false if it cannot be watched.
func (wt *watch) add(st *stream) bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	dir := filepath.Dir(st.opt.Path)
	if _, seen := wt.byDir[dir]; !seen {
		if err := wt.w.Add(dir); err != nil {
			wt.log.Warn("cannot watch a source folder; polling it", "dir", dir, "err", err)
			return false
		}
	}
	wt.byDir[dir] = append(wt.byDir[dir], st)
	wt.streams = append(wt.streams, st)
	return true
}

// run delivers events until ctx ends, then closes the watcher.
func (wt *watch) run(ctx context.Context) {
	defer wt.w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, open := <-wt.w.Events:
			if !open {
				return
			}
			wt.mu.Lock()
			for _, st := range wt.byDir[filepath.Dir(ev.Name)] {
				if strings.HasPrefix(filepath.Base(ev.Name), filepath.Base(st.opt.Path)) {
					st.poke()
				}
			}
			wt.mu.Unlock()
		case err, open := <-wt.w.Errors:
			if !open {
				return
			}
			// An overflow loses events: wake everyone to look.
			wt.log.Warn("inotify", "err", err)
			wt.mu.Lock()
			for _, st := range wt.streams {
				st.poke()
			}
			wt.mu.Unlock()
		}
	}
}

package receiverd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/vfs"
)

// Storage is the receiver's store and index, sharing one group commit: the
// index lines are journaled in the store's log, so one fdatasync of the
// active segment acknowledges a request's bytes and its index line together.
type Storage struct {
	Store *store.Store
	Index *index.Writer
	Sync  *groupsync.Group

	stop   func()
	unlock func()
	wg     sync.WaitGroup
}

// OpenStorage recovers the store and the index in dataDir. so configures
// the store; its Dir, Sync, OnJournal and JournalSafe are set here.
func OpenStorage(dataDir string, so store.Options, log *slog.Logger) (*Storage, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// One receiver at a time: a second one on the same folder would
	// write the same segments, and cis490 migrate must not copy it live.
	if err := os.MkdirAll(datadir.Dir(dataDir).Logs(), 0o750); err != nil {
		return nil, fmt.Errorf("make the logs folder: %w", err)
	}
	unlock, err := vfs.TryLock(datadir.Dir(dataDir).ReceiverLock(), fmt.Sprintf("cis490 receiver (pid %d)", os.Getpid()))
	if err != nil {
		return nil, err
	}
	s := &Storage{Sync: groupsync.New(), unlock: unlock}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Go(func() { s.Sync.Run(ctx) })
	ix, err := index.OpenWriter(so.FS, datadir.Dir(dataDir).Index(), s.Sync, log.With("component", "index"))
	if err != nil {
		s.halt()
		return nil, err
	}
	so.Dir = datadir.Dir(dataDir).Logs()
	so.Sync, so.OnJournal, so.JournalSafe = s.Sync, ix.Collect, ix.Sync
	if so.BuildFilter == nil {
		so.BuildFilter = search.FilterOf // sealed segments get search filters
	}
	if so.Log == nil {
		so.Log = log.With("component", "store")
	}
	st, err := store.Open(so)
	if err != nil {
		s.halt()
		return nil, fmt.Errorf("open store: %w", err)
	}
	seq, known := st.JournalSeq()
	if err := ix.Recover(st, seq, known); err != nil {
		st.Close()
		s.halt()
		return nil, fmt.Errorf("recover index: %w", err)
	}
	st.StartIndexer() // the index has taken what it needed from the journal
	s.Store, s.Index = st, ix
	return s, nil
}

func (s *Storage) halt() {
	s.stop()
	s.wg.Wait()
	s.unlock()
}

// Close makes everything durable and closes the files.
func (s *Storage) Close() error {
	err := errors.Join(s.Index.Close(), s.Store.Close())
	s.halt()
	return errors.Join(err, s.Sync.Err())
}

package storetest_test

import (
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/storetest"
)

// TestLocal holds the local data folder to the storage promises.
func TestLocal(t *testing.T) {
	storetest.Run(t, func(t *testing.T, q storetest.Quotas, now func() time.Time) storetest.Backend {
		dir := t.TempDir()
		stg, err := receiverd.OpenStorage(dir, store.Options{Now: now, MaxAge: q.MaxAge,
			SegmentSize:     256, // small, so that retention has whole segments to drop
			HostBytesPerDay: q.HostBytesPerDay, HostBytesTotal: q.HostBytesTotal, HostStreams: q.HostStreams}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stg.Close() })
		return storetest.Backend{Streams: stg.Store, Index: stg.Index, Source: index.Dir{Path: datadir.Dir(dir).Index()},
			Retain: func(t *testing.T) {
				if _, err := stg.Store.Retain(); err != nil {
					t.Fatal(err)
				}
			}}
	})
}

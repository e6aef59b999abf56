package pgs3_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/localsrv"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
)

// TestMaintainerFenced: one receiver at a time maintains, and one whose
// lease ran out while it was stalled cannot write once another took over.
func TestMaintainerFenced(t *testing.T) {
	dsn, s3 := servers(t)
	a := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	write, ok, err := a.TakeMaintenance(t.Context(), 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("first maintainer: %v %v", ok, err)
	}
	if err := write(t.Context()); err != nil {
		t.Fatalf("a write under a held lease: %v", err)
	}
	if m, err := b.Maintain(t.Context(), pgs3.Retention{}, time.Now(), time.Minute); err != nil || m.Held {
		t.Fatalf("a second maintainer while the first holds the lease: %+v %v; want it to stand aside", m, err)
	}
	time.Sleep(400 * time.Millisecond) // the first stalls past its lease
	if _, ok, err := b.TakeMaintenance(t.Context(), time.Minute); err != nil || !ok {
		t.Fatalf("taking over an expired lease: %v %v", ok, err)
	}
	if err := write(t.Context()); !errors.Is(err, pgs3.ErrLeaseLost) {
		t.Fatalf("the stalled maintainer wrote after the take-over: %v; want the lease lost", err)
	}
}

// TestRetentionKeepsWhatReadersNeed: objects retention leaves unreferenced
// stay in the bucket until OrphanAge has passed (a reader may be fetching
// them), then go; MaxBytes drops the oldest bytes first, across hosts,
// and frees the hosts' quota.
func TestRetentionKeepsWhatReadersNeed(t *testing.T) {
	dsn, s3 := servers(t)
	var now time.Time
	clock := func() time.Time { return now }
	now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3), Now: clock, HostBytesTotal: 1500})
	st := b.Streams()
	chunk := func(i int) []byte { return fmt.Appendf(nil, "%04d%096d", i, 0) } // 100 bytes
	for i := range 20 {
		k := store.Key{Host: fmt.Sprintf("lab-%d", i%2), Stream: "syslog"}
		if _, err := store.Append(t.Context(), st, k, int64(i/2*100), store.Gen{}, chunk(i)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
	}
	objects := func() int { // objects are files under the bucket's folder
		entries, _ := os.ReadDir(filepath.Join(s3.Dir, s3.Bucket, "b"))
		return len(entries)
	}
	before := objects()
	m, err := b.Maintain(t.Context(), pgs3.Retention{MaxBytes: 1200}, now, time.Minute)
	if err != nil || !m.Held {
		t.Fatal(m, err)
	}
	// 2000 held, 1200 kept: the 8 oldest appends go, 4 of each host.
	if m.Bytes != 800 || m.Streams != 2 || m.Objects != 8 || m.Collected != 0 {
		t.Fatalf("maintained %+v; want 800 bytes of 2 streams, 8 objects dropped, none deleted yet", m)
	}
	for h := range 2 {
		k := store.Key{Host: fmt.Sprintf("lab-%d", h), Stream: "syslog"}
		info, _, _ := st.Stat(t.Context(), k)
		if info.Start != 400 || info.Length != 1000 {
			t.Fatalf("%s: start %d length %d; want 400 and 1000", k, info.Start, info.Length)
		}
		// Quota held went down: 600 held of 1500, so 900 more fit.
		if _, err := store.Append(t.Context(), st, k, 1000, store.Gen{}, make([]byte, 850)); err != nil {
			t.Fatalf("%s after retention freed its quota: %v", k, err)
		}
	}
	if got := objects(); got != before+2 {
		t.Fatalf("%d objects in the bucket right after retention; want the %d before (dropped ones kept for readers) and the 2 new", got, before)
	}
	m, err = b.Maintain(t.Context(), pgs3.Retention{}, now.Add(pgs3.OrphanAge+time.Minute), time.Minute)
	if err != nil || m.Collected != 8 {
		t.Fatalf("an hour later: %+v %v; want the 8 dropped objects deleted", m, err)
	}
	if got := objects(); got != before+2-8 {
		t.Fatalf("%d objects left; want %d", got, before+2-8)
	}
}

// TestCompactionMergesSmallObjects: a quiet fleet's one-append batches are
// merged into one object; every stream reads back the same, and the old
// objects go only after a reader could still be fetching them.
func TestCompactionMergesSmallObjects(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	st := b.Streams()
	want := map[store.Key]string{}
	for i := range 12 {
		k := store.Key{Host: fmt.Sprintf("lab-%d", i%3), Stream: "syslog"}
		line := fmt.Sprintf("%s line %d\n", k.Host, i)
		if _, err := store.Append(t.Context(), st, k, int64(len(want[k])), store.Gen{}, []byte(line)); err != nil {
			t.Fatal(err)
		}
		want[k] += line
	}
	objects := func() int {
		entries, _ := os.ReadDir(filepath.Join(s3.Dir, s3.Bucket, "b"))
		return len(entries)
	}
	if n := objects(); n != 12 {
		t.Fatalf("%d objects after 12 one-append batches; want 12", n)
	}
	later := time.Now().Add(time.Hour)
	m, err := b.Maintain(t.Context(), pgs3.Retention{}, later, time.Minute)
	if err != nil || m.Merged != 12 || m.Collected != 0 {
		t.Fatalf("maintained %+v %v; want 12 objects merged, none deleted yet", m, err)
	}
	check := func() {
		t.Helper()
		for k, w := range want {
			got, _, err := st.Read(t.Context(), k, 0, 1<<20)
			if err != nil || string(got) != w {
				t.Fatalf("%s after compaction: %q %v; want %q", k, got, err, w)
			}
		}
	}
	check()
	if n := objects(); n != 13 {
		t.Fatalf("%d objects right after compaction; want the 12 old (readers may hold them) and the new", n)
	}
	m, err = b.Maintain(t.Context(), pgs3.Retention{}, later.Add(pgs3.OrphanAge+time.Minute), time.Minute)
	if err != nil || m.Collected != 12 || m.Merged != 0 {
		t.Fatalf("an hour later: %+v %v; want the 12 old objects deleted", m, err)
	}
	if n := objects(); n != 1 {
		t.Fatalf("%d objects left; want the merged one", n)
	}
	check()
}

// TestCompactionKeepsStreamsTogether: compaction lays each stream's bytes
// side by side in the merged object, so that reading a stream a fleet
// shipped in many small interleaved appends takes one GET, not one per
// append.
func TestCompactionKeepsStreamsTogether(t *testing.T) {
	dsn, s3 := servers(t)
	counter, err := localsrv.StartS3Counter(s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	via := s3Of(s3)
	via.Endpoint = counter.Endpoint
	b := open(t, pgs3.Options{Postgres: dsn, S3: via})
	st := b.Streams()
	want := map[store.Key][]byte{}
	for i := range 60 { // 3 hosts taking turns, 20 appends of 4 KiB each
		k := store.Key{Host: fmt.Sprintf("lab-%d", i%3), Stream: "syslog"}
		chunk := fmt.Appendf(nil, "%s append %02d %4086d\n", k.Host, i/3, 0)[:4096]
		if _, err := store.Append(t.Context(), st, k, int64(len(want[k])), store.Gen{}, chunk); err != nil {
			t.Fatal(err)
		}
		want[k] = append(want[k], chunk...)
	}
	if m, err := b.Maintain(t.Context(), pgs3.Retention{}, time.Now().Add(time.Hour), time.Minute); err != nil || m.Merged != 60 {
		t.Fatalf("maintained %+v %v; want the 60 objects merged", m, err)
	}
	for k, w := range want {
		before := counter.GETs()
		got, _, err := st.Read(t.Context(), k, 0, 1<<20)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("%s after compaction: %d bytes %v; want its %d", k, len(got), err, len(w))
		}
		if n := counter.GETs() - before; n != 1 {
			t.Fatalf("reading %s's 20 appends after compaction took %d GETs; want 1", k, n)
		}
	}
}

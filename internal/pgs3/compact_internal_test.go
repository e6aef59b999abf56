package pgs3

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestCompactionHoldsOneObject: compaction holds the merged object and
// the one object it is reading, not every object it reads: an object
// whose middle retention dropped is fetched from its first live byte to
// its last, and what it holds beyond its live bytes is not bounded by
// compactBytes (up to a MiB an object, for a thousand objects a pass).
func TestCompactionHoldsOneObject(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	s := testenv.S3Server(t)
	b := openAt(t, testenv.Postgres(t), s, "", time.Now, 0)
	ctx := t.Context()
	const objs, objSize, live = 40, 1000 << 10, 1 << 10
	want := map[store.Key][]byte{}
	a, c := store.Key{Host: "lab-a", Stream: "syslog"}, store.Key{Host: "lab-c", Stream: "syslog"}
	for i := range objs {
		// lab-a's append first, lab-c's last, the middle dropped.
		body := bytes.Repeat([]byte{'.'}, objSize)
		copy(body, fmt.Sprintf("a %03d\n", i))
		copy(body[objSize-live:], fmt.Sprintf("c %03d\n", i))
		name := fmt.Sprintf("%s-%03d", objectName(time.Now()), i)
		if err := b.obj.create(ctx, name, body); err != nil {
			t.Fatal(err)
		}
		if _, err := b.pool.Exec(ctx, `INSERT INTO objects (name, size, live) VALUES ($1, $2, true)`, name, objSize); err != nil {
			t.Fatal(err)
		}
		for _, e := range []struct {
			k   store.Key
			pos int
		}{{a, 0}, {c, objSize - live}} {
			if _, err := b.pool.Exec(ctx, `INSERT INTO extents (host, stream, off, n, object, pos, t, gen, gen_start) VALUES ($1, $2, $3, $4, $5, $6, $7, '', 0)`,
				e.k.Host, e.k.Stream, i*live, live, name, e.pos, time.Now().UnixNano()); err != nil {
				t.Fatal(err)
			}
			want[e.k] = append(want[e.k], body[e.pos:e.pos+live]...)
		}
	}
	for k, w := range want {
		if _, err := b.pool.Exec(ctx, `INSERT INTO streams (host, stream, length) VALUES ($1, $2, $3)`, k.Host, k.Stream, len(w)); err != nil {
			t.Fatal(err)
		}
	}
	// The heap's peak while it compacts, over what it held before.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	heap := func() uint64 {
		m := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(m)
		return m[0].Value.Uint64()
	}
	base, peak := heap(), uint64(0)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, heap())
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	})
	m, err := b.Maintain(ctx, Retention{}, time.Now().Add(time.Hour), time.Minute)
	close(done)
	wg.Wait()
	if err != nil || m.Merged != objs {
		t.Fatalf("maintained %+v %v; want the %d objects merged", m, err, objs)
	}
	if grew := int64(peak) - int64(base); grew > 16<<20 {
		t.Fatalf("the heap grew by %d MiB compacting %d KiB of live bytes; want a few, at most 16", grew>>20, 2*objs*live>>10)
	}
	for k, w := range want {
		got, _, err := b.Streams().Read(ctx, k, 0, 1<<20)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("%s after compaction: %q %v; want %q", k, got, err, w)
		}
	}
}

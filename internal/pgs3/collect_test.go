package pgs3_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
)

// TestCollectTakesObjectsNoAppendKept: a batch whose appends were all
// retries (200) or refusals (409) commits no extent into its object; the
// object is an orphan Collect deletes, and the stored bytes stay.
func TestCollectTakesObjectsNoAppendKept(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	key := store.Key{Host: "lab-1", Stream: "syslog"}
	// Each Begin waits for its own batch: three objects.
	steps := []struct {
		off  int64
		data string
		want store.Outcome
	}{
		{0, "hello\n", store.Appended},
		{0, "hello\n", store.Duplicate},
		{100, "gap\n", 0},
	}
	for _, s := range steps {
		got, err := store.Append(t.Context(), b.Streams(), key, s.off, store.Gen{}, []byte(s.data))
		var conflict *store.ConflictError
		if s.want == 0 && !errors.As(err, &conflict) || s.want != 0 && (err != nil || got.Outcome != s.want) {
			t.Fatalf("append %q at %d: %+v %v; want outcome %v", s.data, s.off, got, err, s.want)
		}
	}
	// A refused append is answered before its batch ends: wait for the
	// batch's upload to finish, as an hour's wait would in real life.
	for b.Pending(time.Now()) > 0 {
		time.Sleep(time.Millisecond)
	}
	n, err := b.Collect(t.Context(), time.Now().Add(2*pgs3.OrphanAge))
	if err != nil || n != 2 {
		t.Fatalf("collect: %d %v; want the 2 objects of the retry and the refusal", n, err)
	}
	data, _, err := b.Streams().Read(t.Context(), key, 0, 100)
	if err != nil || string(data) != "hello\n" {
		t.Fatalf("read after collect: %q %v", data, err)
	}
}

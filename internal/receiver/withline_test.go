package receiver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

// lostBatchStore answers appends as postgres+s3 does, the commit still to
// come (store.Begun.WithLine), and then loses that commit.
type lostBatchStore struct{ store.Streams }

func (s lostBatchStore) Begin(ctx context.Context, k store.Key, off int64, g store.Gen, d []byte) (store.Begun, error) {
	b, err := s.Streams.Begin(ctx, k, off, g, d)
	if err != nil {
		return b, err
	}
	failed := func(context.Context) error { return errors.New("the batch's commit failed") }
	b.Durable = failed
	b.WithLine = func(time.Time, []byte) (store.Durable, error) { return failed, nil }
	return b, nil
}

// TestLineOfALostCommit: an append answered before its commit, whose
// commit then fails, is answered 503 and has one index line that says
// what the host was told: 503, for the storage.
func TestLineOfALostCommit(t *testing.T) {
	f := newFixture(t, fixtureOpts{wrap: func(s store.Streams) store.Streams { return lostBatchStore{s} }})
	lab1 := f.host("lab-1")
	r := f.do(lab1, "PUT", "/v1/logs/lab-1/syslog?offset=0", "hello\n", nil)
	if r.status != 503 || r.header.Get(wire.HeaderReason) != wire.ReasonStorage {
		t.Fatalf("answered %d (%s) %s; want 503 for the storage", r.status, r.header.Get(wire.HeaderReason), r.body)
	}
	var got []string
	for _, l := range f.indexLines() {
		if l.Endpoint == "logs" || l.Stream == "syslog" {
			got = append(got, l.Reason)
			if l.Status != 503 || l.Reason != wire.ReasonStorage {
				t.Errorf("index line %+v; want status 503, reason %q, as answered", l, wire.ReasonStorage)
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d index lines for the request; want 1", len(got))
	}
}

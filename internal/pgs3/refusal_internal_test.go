package pgs3

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestRefusalWaitsForItsBatch: a refusal decided on the batch's own
// appends (here the total quota, taken by the other append of the batch)
// must not stand if that batch then fails to commit: nothing was stored,
// so the host must be told to retry (503), not that it is over its quota
// (a 429 it would obey until midnight), and its index line must not say
// so either.
func TestRefusalWaitsForItsBatch(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	s := testenv.S3Server(t)
	dsn := testenv.Postgres(t)
	bucket := s3Of(s, "")
	bucket.SecretKey = "not-the-secret" // every upload fails
	b := mustOpen(t, Options{Postgres: dsn, HostBytesTotal: 100, Committers: 1, S3: bucket})

	// Hold the first batch on a row lock so that the two appends below
	// queue behind it and go into the next batch together.
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	lock, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(t.Context(), `INSERT INTO streams (host, stream) VALUES ('lab-0', 'blocker')`); err != nil {
		t.Fatal(err)
	}
	go b.Streams().Begin(context.Background(), store.Key{Host: "lab-0", Stream: "blocker"}, 0, store.Gen{}, []byte("x"))
	waitFor(t, b, func() bool { return b.committing == 1 && len(b.appends) == 0 })

	type answer struct {
		begun store.Begun
		err   error
	}
	answers := make(chan answer, 2)
	for _, stream := range []string{"a", "b"} {
		go func() {
			bg, err := b.Streams().Begin(context.Background(), store.Key{Host: "lab-1", Stream: stream}, 0, store.Gen{}, make([]byte, 60))
			if err == nil {
				d := bg.Durable
				if bg.WithLine != nil {
					d, err = bg.WithLine(time.Now(), []byte(`{}`))
				}
				if err == nil {
					err = d(context.Background())
				}
			}
			answers <- answer{bg, err}
		}()
	}
	waitFor(t, b, func() bool { return len(b.appends) == 2 })
	if err := lock.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a := <-answers
		if a.err == nil {
			t.Fatalf("an append was made durable with the bucket refusing its object: %+v", a.begun)
		}
		var qe *store.QuotaError
		if errors.As(a.err, &qe) {
			t.Errorf("told %v, on bytes that were never stored (the batch failed); want the batch's failure (503)", a.err)
		}
	}
}

// waitFor polls cond, which reads fields b.mu guards, under that lock.
func waitFor(t *testing.T, b *Backend, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		ok := cond()
		b.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("timed out waiting")
}

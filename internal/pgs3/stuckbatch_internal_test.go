package pgs3

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestStuckBatchHoldsNoOtherHost: a batch stuck on a row another receiver
// holds (stopped, until PostgreSQL ends its session) must not hold up the
// appends of other hosts queued behind it while a second committer is
// free: they wait a bounded time, not for the stuck batch.
func TestStuckBatchHoldsNoOtherHost(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	s := testenv.S3Server(t)
	dsn := testenv.Postgres(t)
	b := mustOpen(t, Options{Postgres: dsn, Committers: 2, S3: s3Of(s, "")})
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	lock, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(context.WithoutCancel(t.Context()))
	if _, err := lock.Exec(t.Context(), `INSERT INTO streams (host, stream) VALUES ('lab-0', 'stuck')`); err != nil {
		t.Fatal(err)
	}
	go store.Append(context.Background(), b.Streams(), store.Key{Host: "lab-0", Stream: "stuck"}, 0, store.Gen{}, []byte("x"))
	waitFor(t, b, func() bool { return b.committing == 1 && len(b.appends) == 0 })

	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := store.Append(context.Background(), b.Streams(), store.Key{Host: "lab-1", Stream: "syslog"}, 0, store.Gen{}, []byte("hello\n"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the other host's append took %s", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("another host's append waited 5 s for a batch stuck on a row lock, a committer free")
	}
}

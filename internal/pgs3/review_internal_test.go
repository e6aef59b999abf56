package pgs3

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// s3Of is the bucket of the test's S3 server, under prefix.
func s3Of(s testenv.S3, prefix string) S3 {
	return S3{Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Prefix: prefix}
}

// mustOpen opens a backend the test closes.
func mustOpen(t *testing.T, opt Options) *Backend {
	t.Helper()
	b, err := Open(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openAt(t *testing.T, dsn string, s testenv.S3, prefix string, now func() time.Time, idle time.Duration) *Backend {
	t.Helper()
	return mustOpen(t, Options{Postgres: dsn, Now: now, IdleTx: idle, S3: s3Of(s, prefix)})
}

// TestReadSeesOneSnapshot: extents read before retention dropped them
// still fetch their bytes: Read takes the row and extents in one
// statement and fetches them after, and retention may run in between
// (the objects stay for OrphanAge). The test holds its snapshot in a
// transaction, to put retention between the two.
func TestReadSeesOneSnapshot(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	s := testenv.S3Server(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b := openAt(t, testenv.Postgres(t), s, "", func() time.Time { return now }, 0)
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	st := b.Streams()
	if _, err := store.Append(t.Context(), st, k, 0, store.Gen{}, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := store.Append(t.Context(), st, k, 10, store.Gen{}, []byte("abcdefghij")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	err := b.snapshot(t.Context(), func(q querier) error {
		info, err := b.info(t.Context(), q, k)
		if err != nil {
			return err
		}
		// Retention drops the first append between the ledger's read and
		// the GETs.
		if m, err := b.Maintain(t.Context(), Retention{MaxAge: 30 * time.Minute}, now, time.Minute); err != nil || m.Bytes != 10 {
			t.Fatalf("retention: %+v %v; want the first 10 bytes dropped", m, err)
		}
		got, err = b.readRange(t.Context(), q, k, info.Start, info.Length-info.Start)
		return err
	})
	if err != nil || string(got) != "0123456789abcdefghij" {
		t.Fatalf("a read that began before retention: %q %v; want what its snapshot held", got, err)
	}
}

// TestMoveStartPastLength: a folder whose retention went past what an
// earlier migrate copied leaves the stream empty from the new start, its
// host holding nothing, and the copy goes on from there.
func TestMoveStartPastLength(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	b := openAt(t, testenv.Postgres(t), testenv.S3Server(t), "", nil, 0)
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	st := b.Streams()
	if _, err := store.Append(t.Context(), st, k, 0, store.Gen{}, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := st.MoveStart(t.Context(), k, 300); err != nil {
		t.Fatal(err)
	}
	var held int64
	if err := b.pool.QueryRow(t.Context(), `SELECT held FROM hosts WHERE host = $1`, k.Host).Scan(&held); err != nil {
		t.Fatal(err)
	}
	in, _, _ := st.Stat(t.Context(), k)
	if held != 0 || in.Start != 300 || in.Length != 300 {
		t.Fatalf("held %d, start %d, length %d; want 0, 300, 300", held, in.Start, in.Length)
	}
	if _, err := store.Append(t.Context(), st, k, 300, store.Gen{}, []byte("x")); err != nil {
		t.Fatalf("an append at the new start: %v", err)
	}
}

// TestCollectLeavesOthersObjects: what another deployment keeps in the
// bucket, even under a prefix that starts like this one's, is never
// collected; a prefix without its slash is refused.
func TestCollectLeavesOthersObjects(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	s := testenv.S3Server(t)
	if _, err := Open(t.Context(), Options{Postgres: testenv.Postgres(t), S3: S3{Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: "cis"}}); err == nil {
		t.Fatal("a prefix without a trailing slash was taken")
	}
	a := openAt(t, testenv.Postgres(t), s, "", nil, 0)
	o := openAt(t, testenv.Postgres(t), s, "cis-other/", nil, 0)
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	if _, err := store.Append(t.Context(), o.Streams(), k, 0, store.Gen{}, []byte("precious")); err != nil {
		t.Fatal(err)
	}
	if err := o.obj.create(t.Context(), "notes.txt", []byte("someone else's")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Collect(t.Context(), time.Now().Add(2*OrphanAge)); err != nil || n != 0 {
		t.Fatalf("collect over a shared bucket: %d %v; want nothing taken", n, err)
	}
	if got, _, err := o.Streams().Read(t.Context(), k, 0, 100); err != nil || string(got) != "precious" {
		t.Fatalf("the other deployment's bytes: %q %v", got, err)
	}
}

// TestStalledTransactionEnds: a receiver stopped inside a batch's
// transaction holds its host's rows only until PostgreSQL ends its idle
// session; the host's other streams then go on through another receiver.
func TestStalledTransactionEnds(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	dsn, s := testenv.Postgres(t), testenv.S3Server(t)
	stalled := openAt(t, dsn, s, "", nil, time.Second)
	other := openAt(t, dsn, s, "", nil, time.Second)
	conn, err := stalled.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `SELECT * FROM cis490_append('lab-1','s1',0,5,'b/x',0,0,'',0,0,0,0,0,0)`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := store.Append(t.Context(), other.Streams(), store.Key{Host: "lab-1", Stream: "s2"}, 0, store.Gen{}, []byte("hello")); err != nil {
		t.Fatalf("an append behind a stalled transaction: %v after %s", err, time.Since(start).Round(time.Millisecond))
	}
	if waited := time.Since(start); waited > 20*time.Second {
		t.Fatalf("the append waited %s behind the stalled transaction; want about a second", waited)
	}
	if _, err := tx.Exec(t.Context(), `SELECT 1`); err == nil {
		t.Fatal("the stalled transaction's session is still alive")
	}
}

// snapshot runs fn in a read-only transaction with one snapshot.
func (b *Backend) snapshot(ctx context.Context, fn func(q querier) error) error {
	tx, err := b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

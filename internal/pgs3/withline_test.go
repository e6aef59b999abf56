package pgs3_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
)

// lineTx says which transaction committed the index line whose text is
// line, and which committed the extent at off of key (0: none did).
func lineTx(t *testing.T, dsn string, line string, key store.Key, off int64) (lineXID, extentXID uint32) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	// xid8 is the 64-bit id; xmin is its low 32 bits.
	err = conn.QueryRow(t.Context(), `SELECT coalesce((SELECT (xid::text::numeric % 4294967296)::bigint FROM index_lines WHERE line = $1), 0)`, line).Scan(&lineXID)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(t.Context(), `SELECT coalesce((SELECT xmin::text::bigint FROM extents WHERE host = $1 AND stream = $2 AND off = $3), 0)`, key.Host, key.Stream, off).Scan(&extentXID)
	if err != nil {
		t.Fatal(err)
	}
	return lineXID, extentXID
}

// TestLineCommitsWithItsAppend: a request's index line handed over with
// WithLine commits in its append's transaction, so one commit acknowledges
// both; a line handed over too late for it still commits, after it.
func TestLineCommitsWithItsAppend(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	key := store.Key{Host: "lab-1", Stream: "syslog"}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(off int64, data, line string, late time.Duration) {
		t.Helper()
		begun, err := b.Streams().Begin(t.Context(), key, off, store.Gen{}, []byte(data))
		if err != nil || begun.Outcome != store.Appended || begun.WithLine == nil {
			t.Fatalf("append at %d: %+v, %v; want it appended, with WithLine", off, begun, err)
		}
		time.Sleep(late)
		d, err := begun.WithLine(ts, []byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if err := d(t.Context()); err != nil {
			t.Fatalf("append at %d not made durable: %v", off, err)
		}
	}

	put(0, "first\n", `{"line":"in time"}`, 0)
	l, e := lineTx(t, dsn, `{"line":"in time"}`, key, 0)
	if l == 0 || l != e {
		t.Fatalf("the line committed in transaction %d, its append in %d; want both in one", l, e)
	}

	// The batch keeps its transaction open for lines only briefly.
	put(6, "second\n", `{"line":"late"}`, 200*time.Millisecond)
	l, e = lineTx(t, dsn, `{"line":"late"}`, key, 6)
	if l == 0 || e == 0 || l == e {
		t.Fatalf("the late line committed in transaction %d, its append in %d; want both committed, the line after", l, e)
	}
	got, info, err := b.Streams().Read(t.Context(), key, 0, 100)
	if err != nil || string(got) != "first\nsecond\n" || info.Length != 13 {
		t.Fatalf("read %q (%+v, %v); want both appends", got, info, err)
	}
}

// TestBatchFailingAfterItsAnswer: the outcome an append is told comes
// before its batch commits; if the commit then fails (here the bucket
// refuses the object), Durable says so, and neither the bytes nor the
// line handed over are kept.
func TestBatchFailingAfterItsAnswer(t *testing.T) {
	dsn, s3 := servers(t)
	cfg := s3Of(s3)
	cfg.SecretKey = "not-the-secret"
	b := open(t, pgs3.Options{Postgres: dsn, S3: cfg})
	key := store.Key{Host: "lab-1", Stream: "syslog"}
	begun, err := b.Streams().Begin(t.Context(), key, 0, store.Gen{}, []byte("lost\n"))
	if err != nil || begun.Outcome != store.Appended || begun.WithLine == nil {
		t.Fatalf("append: %+v, %v; want it told appended, its commit still to come", begun, err)
	}
	d, err := begun.WithLine(time.Now(), []byte(`{"line":"told 201"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d(t.Context()); err == nil {
		t.Fatal("the append was made durable with the bucket refusing its object; want an error")
	}
	info, ok, serr := b.Streams().Stat(t.Context(), key)
	if serr != nil || (ok && info.Length != 0) {
		t.Fatalf("after the failed batch the stream is %+v (%v, %v); want nothing stored", info, ok, serr)
	}
	if l, _ := lineTx(t, dsn, `{"line":"told 201"}`, key, 0); l != 0 {
		t.Fatalf("the line of the failed batch was committed (transaction %d); want it rolled back", l)
	}
}

package pgs3

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestSchemaNineKeepsOlderFilters: a database whose filters were built
// before schema 9 opens, migrates, and its filters still count, their
// edge unknown, so a search reads the byte before as it did (those built
// after know theirs: TestSearchFiltersShared).
func TestSchemaNineKeepsOlderFilters(t *testing.T) {
	dsn := testenv.Postgres(t)
	s := testenv.S3Server(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	// The database as schema 8 left it, with one filter in it.
	if _, err := conn.Exec(t.Context(), `CREATE TABLE cis490_schema (version int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v, m := range migrations[:8] {
		if _, err := conn.Exec(t.Context(), m); err != nil {
			t.Fatalf("migration %d: %v", v+1, err)
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO cis490_schema (version) VALUES ($1)`, v+1); err != nil {
			t.Fatal(err)
		}
	}
	old := search.FilterOf(nil, []byte("sshd accepted key\n"), nil)
	if _, err := conn.Exec(t.Context(), `INSERT INTO stream_filters (host, stream, from_off, to_off, filter) VALUES ('lab-1', 'syslog', 0, 18, $1)`, old); err != nil {
		t.Fatal(err)
	}
	b := openAt(t, dsn, s, "", nil, 0)
	var version int
	if err := conn.QueryRow(t.Context(), `SELECT max(version) FROM cis490_schema`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d (%v) after opening; want %d", version, err, len(migrations))
	}
	flts, err := b.Streams().Filters(t.Context(), store.Key{Host: "lab-1", Stream: "syslog"}, 0, 1<<20)
	if err != nil || len(flts) != 1 || string(flts[0].Data) != string(old) || flts[0].Edge != store.EdgeUnknown {
		t.Fatalf("the filter built before schema 9: %+v %v; want it, its edge unknown", flts, err)
	}
}

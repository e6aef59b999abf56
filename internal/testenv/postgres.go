package testenv

import (
	"testing"

	"github.com/cis490/cis490/internal/localsrv"
)

// pgBin is where Debian keeps PostgreSQL's programs, or "".
func pgBin() string { return localsrv.PGBin() }

// PostgreSQL is Debian's PostgreSQL server, which Postgres and NewPostgres
// run.
func PostgreSQL() Need {
	return Need{what: "postgres", how: "apt-get install postgresql", have: func() bool { return pgBin() != "" }}
}

// PG is a PostgreSQL cluster of the test's own, in a temporary folder,
// listening on a loopback port, with fsync and synchronous_commit on.
type PG struct {
	t testing.TB
	s *localsrv.PG
}

// Postgres returns the DSN of a fresh, empty database on a cluster the
// test binary shares, started on first use (StopShared stops it).
func Postgres(t testing.TB) string {
	t.Helper()
	Require(t, PostgreSQL())
	shared.mu.Lock()
	if shared.pg == nil && shared.pgErr == nil {
		shared.pg, shared.pgErr = newCluster()
		if shared.pgErr == nil {
			if shared.pgErr = shared.pg.Start(); shared.pgErr != nil {
				shared.pg.Destroy()
				shared.pg = nil
			}
		}
	}
	pg, err := shared.pg, shared.pgErr
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("shared PostgreSQL: %v", err)
	}
	dsn, err := pg.CreateDB(nextName("t", t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// NewPostgres starts a cluster of the test's own, which it may stop, kill
// and start again; the test's cleanup removes it.
func NewPostgres(t testing.TB) *PG {
	t.Helper()
	Require(t, PostgreSQL())
	s, err := newCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Destroy)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return &PG{t: t, s: s}
}

// newCluster runs initdb in a new folder of os.TempDir(): not t.TempDir,
// whose parent nobody (who runs the server when the test is root) cannot
// enter.
func newCluster() (*localsrv.PG, error) { return localsrv.NewPG("") }

// DSN is the address of database db on the cluster ("postgres" always
// exists).
func (pg *PG) DSN(db string) string { return pg.s.DSN(db) }

// NewDB creates a fresh, empty database and returns its DSN.
func (pg *PG) NewDB() string {
	pg.t.Helper()
	dsn, err := pg.s.CreateDB(nextName("t", pg.t.Name()))
	if err != nil {
		pg.t.Fatal(err)
	}
	return dsn
}

// Kill is kill -9 of the server and all its processes, as in a crash:
// Start recovers from the WAL what was committed.
func (pg *PG) Kill() { pg.s.Kill() }

// Stop shuts the server down cleanly (fast shutdown).
func (pg *PG) Stop() { pg.s.Stop() }

// Start starts the server again on the same port and waits until it
// accepts connections (after crash recovery if it was killed).
func (pg *PG) Start() {
	pg.t.Helper()
	if err := pg.s.Start(); err != nil {
		pg.t.Fatal(err)
	}
}

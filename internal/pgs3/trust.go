package pgs3

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/trust"
)

// trustLock is the advisory lock key of the trust lock (schemaLock's
// neighbour).
const trustLock = 0x6369733439300002

// TrustState is trust.State in PostgreSQL: the CA's ledger (issued), the
// revocation list (revoked) and the trust lock, shared by every receiver
// and admin command on the database. The CA's private key is not here: it
// stays a local file on the receivers that enroll.
type TrustState struct {
	b *Backend
	// turn is this process's queue for the advisory lock: only its holder
	// waits on PostgreSQL (with one connection), as trust.Files's waiters
	// queue in memory for the flock.
	turn chan struct{}
}

var _ trust.State = (*TrustState)(nil)

// Trust is the backend's trust.State; every call returns the same one, so
// a process's waiters for the lock share one queue.
func (b *Backend) Trust() *TrustState {
	b.trust.mu.Lock()
	defer b.trust.mu.Unlock()
	if b.trust.state == nil {
		b.trust.state = &TrustState{b: b, turn: make(chan struct{}, 1)}
	}
	return b.trust.state
}

// Lock takes the trust lock: a session advisory lock held on one pooled
// connection until unlock, so it excludes every process on every machine
// using the database. A session lock rather than a row lock in an open
// transaction: that transaction would hold a transaction id for as long
// as the lock, and the index lines' readers wait behind the oldest one.
// When ctx ends first it returns a *trust.BusyError naming the holder.
func (s *TrustState) Lock(ctx context.Context) (func(), error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, s.busy(context.Cause(ctx))
	}
	// The wait ends with ctx or the backend, so Close never waits for it.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.b.life, func() { cancel(errClosed) })
	defer stop()
	conn, err := s.b.pool.Acquire(wctx)
	if err == nil {
		// pgx gives up on a cancelled wait by closing the connection,
		// which ends the session and any lock it was granted.
		_, err = conn.Exec(wctx, `SELECT pg_advisory_lock($1)`, int64(trustLock))
		if err != nil {
			conn.Release()
		}
	}
	if err != nil {
		<-s.turn
		if ctx.Err() != nil {
			return nil, s.busy(context.Cause(ctx))
		}
		return nil, fmt.Errorf("take the trust lock in PostgreSQL: %w", err)
	}
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			uctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			var ok bool
			if err := conn.QueryRow(uctx, `SELECT pg_advisory_unlock($1)`, int64(trustLock)).Scan(&ok); err != nil || !ok {
				// Never put a connection that may hold the lock back
				// in the pool: closing it ends the session and the lock.
				conn.Conn().Close(uctx)
			}
			conn.Release()
			<-s.turn
		})
	}
	// Best effort: only a waiter's message reads it.
	if _, err := conn.Exec(wctx, `UPDATE trust_holder SET holder = $1, since = now()`, holder()); err != nil {
		s.b.log.Warn("record the trust lock's holder", "err", err)
	}
	return unlock, nil
}

// busy is the BusyError for a wait that ended with cause.
func (s *TrustState) busy(cause error) error {
	ctx, cancel := context.WithTimeout(s.b.life, 2*time.Second)
	defer cancel()
	var who string
	var since time.Time
	if s.b.pool.QueryRow(ctx, `SELECT holder, since FROM trust_holder`).Scan(&who, &since) == nil {
		who = fmt.Sprintf("%s since %s", who, since.UTC().Format(time.RFC3339))
	}
	return trust.Busy(who, cause)
}

// holder names this process for a waiter on the trust lock, on whichever
// machine it waits: command, process id and machine.
func holder() string {
	cmd := strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " ")
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	machine, _ := os.Hostname()
	return fmt.Sprintf("%q (pid %d on %s)", cmd, os.Getpid(), machine)
}

// Record adds a certificate the CA signed to the ledger; it is durable
// once the transaction commits.
func (s *TrustState) Record(c pki.Issued) error {
	ctx, cancel := s.b.call()
	defer cancel()
	_, err := s.b.pool.Exec(ctx, `INSERT INTO issued (serial, kind, name, not_after, at) VALUES ($1, $2, $3, $4, $5)`,
		c.Serial, c.Kind, c.Name, c.NotAfter.UTC(), c.At.UTC())
	if err != nil {
		return fmt.Errorf("record certificate %s for %s in the CA's ledger in PostgreSQL: %w", c.Serial, c.Name, err)
	}
	return nil
}

// IssuedTo lists the ledger's certificates for name, oldest first.
func (s *TrustState) IssuedTo(name string) ([]pki.Issued, error) {
	return s.ledger(`WHERE name = $1`, name)
}

// Ledger lists every certificate in the ledger, oldest first.
func (s *TrustState) Ledger() ([]pki.Issued, error) { return s.ledger("") }

func (s *TrustState) ledger(where string, args ...any) ([]pki.Issued, error) {
	ctx, cancel := s.b.call()
	defer cancel()
	rows, err := s.b.pool.Query(ctx, `SELECT serial, kind, name, not_after, at FROM issued `+where+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the CA's ledger from PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pki.Issued, error) {
		var c pki.Issued
		err := r.Scan(&c.Serial, &c.Kind, &c.Name, &c.NotAfter, &c.At)
		c.NotAfter, c.At = c.NotAfter.UTC(), c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the CA's ledger from PostgreSQL: %w", err)
	}
	return out, nil
}

// Revoke adds entries to the revocation list; a serial already on it is
// kept as it was. This process's Revocations reloads at once; other
// receivers' within refreshEvery.
func (s *TrustState) Revoke(entries ...pki.Revoked) error {
	if len(entries) == 0 {
		return nil
	}
	n := len(entries)
	serials, hosts, ats, whys := make([]string, n), make([]string, n), make([]time.Time, n), make([]string, n)
	for i, e := range entries {
		serials[i], hosts[i], ats[i], whys[i] = e.Serial, e.Host, e.At.UTC(), e.Why
	}
	ctx, cancel := s.b.call()
	defer cancel()
	changed, err := s.b.change(ctx, "revoked", func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO revoked (serial, host, at, why)
			SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[])
			ON CONFLICT (serial) DO NOTHING`, serials, hosts, ats, whys)
		return tag.RowsAffected() > 0, err
	})
	if err != nil {
		return fmt.Errorf("add %d certificates to the revocation list in PostgreSQL: %w", n, err)
	}
	s.b.trust.mu.Lock()
	revs := s.b.trust.revs
	s.b.trust.mu.Unlock()
	if changed && revs != nil {
		_ = revs.c.refresh(ctx) // on failure the next poll reloads
	}
	return nil
}

// Revocations is the revocation list in memory (pki.RevocationList) for
// the verifier, which asks on every request: the revoked table, reloaded
// within refreshEvery of a change.
type Revocations struct {
	c *cached

	mu      sync.RWMutex
	serials map[string]bool
}

var _ pki.RevocationList = (*Revocations)(nil)

// Revocations is the backend's revocation list, loaded on the first call
// (an error if it cannot be: starting without it would let every revoked
// certificate in) and kept current until the backend closes.
func (b *Backend) Revocations(ctx context.Context) (*Revocations, error) {
	return shared(ctx, b, &b.trust.revs, func() (*Revocations, *cached) {
		r := &Revocations{}
		r.c = &cached{b: b, what: "revoked", load: r.load}
		return r, r.c
	})
}

func (r *Revocations) load(ctx context.Context, tx pgx.Tx, _ int64) error {
	rows, err := tx.Query(ctx, `SELECT serial FROM revoked`)
	if err != nil {
		return err
	}
	serials, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(serials))
	for _, s := range serials {
		m[s] = true
	}
	r.mu.Lock()
	r.serials = m
	r.mu.Unlock()
	return nil
}

// HasSerial reports whether the certificate with serial is revoked.
func (r *Revocations) HasSerial(serial string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.serials[serial]
}

// ImportLedger appends the ledger's entries whose serial is not in it
// yet, in their order, in one transaction, and says how many: for
// `cis490 migrate`, which holds the trust lock around it, so a second
// copy adds nothing and no issue interleaves.
func (s *TrustState) ImportLedger(ctx context.Context, entries []pki.Issued) (int, error) {
	n := len(entries)
	serials, kinds, names, notAfters, ats := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n), make([]time.Time, n)
	for i, c := range entries {
		serials[i], kinds[i], names[i], notAfters[i], ats[i] = c.Serial, c.Kind, c.Name, c.NotAfter.UTC(), c.At.UTC()
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	// DISTINCT ON keeps a serial the folder lists twice once, as the
	// first time; ORDER BY n then keeps the ledger's order in seq.
	tag, err := s.b.pool.Exec(ctx, `INSERT INTO issued (serial, kind, name, not_after, at)
		SELECT serial, kind, name, not_after, at FROM (
			SELECT DISTINCT ON (serial) * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
				WITH ORDINALITY AS u(serial, kind, name, not_after, at, n)
			WHERE NOT EXISTS (SELECT 1 FROM issued i WHERE i.serial = u.serial)
			ORDER BY serial, n) AS new
		ORDER BY n`, serials, kinds, names, notAfters, ats)
	if err != nil {
		return 0, fmt.Errorf("import %d certificates into the CA's ledger in PostgreSQL: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

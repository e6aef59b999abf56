package pgs3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// A lease makes one receiver at a time the one that does a job (retention,
// compaction): it is held until it expires, and each take-over increments
// its fencing number. Every write of the job checks, in its own
// transaction and under the lease row's lock, that the number is still
// its own and the lease unexpired by the database's clock, so a holder
// that was stopped (SIGSTOP, a long GC pause, a partition) and comes back
// after another took over cannot act: its writes fail.
type lease struct {
	b      *Backend
	name   string
	holder string
	fence  int64
}

// errLeaseLost is a write refused because the lease moved on.
var errLeaseLost = errors.New("the lease was lost to another receiver")

// holderID names this process in the leases table, for an operator.
func holderID() string {
	h, _ := os.Hostname()
	return h + ":" + strconv.Itoa(os.Getpid())
}

// acquire takes the lease name for d unless another holds it unexpired;
// ok is false then.
func (b *Backend) acquire(ctx context.Context, name string, d time.Duration) (l *lease, ok bool, err error) {
	return b.acquireAs(ctx, name, holderID(), d)
}

// acquireAs is acquire naming the holder.
func (b *Backend) acquireAs(ctx context.Context, name, holder string, d time.Duration) (l *lease, ok bool, err error) {
	l = &lease{b: b, name: name, holder: holder}
	err = b.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, fence, expires)
		VALUES ($1, $2, 1, clock_timestamp() + $3::interval)
		ON CONFLICT (name) DO UPDATE SET holder = $2, fence = leases.fence + 1, expires = clock_timestamp() + $3::interval
		WHERE leases.expires < clock_timestamp()
		RETURNING fence`, name, l.holder, d.String()).Scan(&l.fence)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("take the %s lease: %w", name, err)
	}
	return l, true, nil
}

// check fails unless l is still held in tx; the row stays locked until tx
// ends, so no one can take the lease over before this write commits.
func (l *lease) check(ctx context.Context, tx pgx.Tx) error {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT expires > clock_timestamp() FROM leases WHERE name = $1 AND fence = $2 FOR UPDATE`, l.name, l.fence).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ok) {
		return fmt.Errorf("%s (fence %d): %w", l.name, l.fence, errLeaseLost)
	}
	return err
}

// release ends the lease early, if it is still l's.
func (l *lease) release(ctx context.Context) {
	l.b.pool.Exec(ctx, `UPDATE leases SET expires = clock_timestamp() WHERE name = $1 AND fence = $2`, l.name, l.fence)
}

// inTx runs fn in a transaction that commits only if l is still held.
func (l *lease) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := l.b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin a transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := l.check(ctx, tx); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

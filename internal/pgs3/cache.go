package pgs3

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// refreshEvery is how often a receiver asks whether the tokens or the
// revocation list changed. A change committed by another receiver or an
// admin command is in this receiver's memory within refreshEvery plus one
// reload (well under 2 s while the database answers); the receiver that
// made the change reloads at once.
//
// Polled rather than LISTEN/NOTIFY: a listener needs a connection of its
// own for good, misses what was sent while it reconnected (so it must
// poll after every reconnect anyway), and does not pass through a
// transaction-pooling proxy; one indexed one-row read a second per
// receiver costs nothing.
const refreshEvery = time.Second

// trustParts are the trust state's pieces, one per backend: a process
// shares one cache and one queue for the trust lock.
type trustParts struct {
	mu     sync.Mutex
	tokens *Tokens
	revs   *Revocations
	state  *TrustState
}

// cached keeps one table in memory: load reads it whole, in one snapshot
// with its version from trust_versions, whenever that version moved.
type cached struct {
	b    *Backend
	what string // the table's row in trust_versions
	load func(ctx context.Context, tx pgx.Tx, version int64) error

	mu      sync.Mutex // one reload at a time
	version int64
	loaded  bool
}

// refresh reloads the table if its version moved since the last load.
func (c *cached) refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	const q = `SELECT version FROM trust_versions WHERE what = $1`
	var v int64
	if err := c.b.pool.QueryRow(ctx, q, c.what).Scan(&v); err != nil {
		return fmt.Errorf("read the version of %s: %w", c.what, err)
	}
	if c.loaded && v == c.version {
		return nil
	}
	opt := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, c.b.pool, opt, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, q, c.what).Scan(&v); err != nil {
			return err
		}
		return c.load(ctx, tx, v)
	})
	if err != nil {
		return fmt.Errorf("reload %s from PostgreSQL: %w", c.what, err)
	}
	c.version, c.loaded = v, true
	return nil
}

// watch refreshes the table every refreshEvery until the backend closes.
// While the database does not answer, the last good copy stays in use
// (as a broken token file keeps the last good set): the log says so once.
func (c *cached) watch() {
	c.b.watchers.Go(func() {
		t := time.NewTicker(refreshEvery)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-c.b.life.Done():
				return
			case <-t.C:
			}
			ctx, cancel := c.b.call()
			err := c.refresh(ctx)
			cancel()
			switch {
			case err != nil && !failing && c.b.life.Err() == nil:
				c.b.log.Warn("keeping the last good copy until PostgreSQL answers", "table", c.what, "err", err)
				failing = true
			case err == nil && failing:
				c.b.log.Info("reloaded from PostgreSQL again", "table", c.what)
				failing = false
			}
		}
	})
}

// change runs fn in a transaction that first bumps what's version, so
// the change and its version commit together and every receiver's cache
// reloads. The version row's lock is taken first and held to the commit:
// changes to one table commit one at a time and cannot deadlock. When fn
// reports no change the transaction rolls back; fn's own error is
// returned as it is.
func (b *Backend) change(ctx context.Context, what string, fn func(pgx.Tx) (bool, error)) (bool, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("connect to PostgreSQL to change %s: %w", what, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `UPDATE trust_versions SET version = version + 1 WHERE what = $1`, what); err != nil {
		return false, fmt.Errorf("bump the version of %s: %w", what, err)
	}
	changed, err := fn(tx)
	if err != nil || !changed {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("commit a change to %s: %w", what, err)
	}
	return true, nil
}

// shared returns *slot, made and loaded by open the first time: one cache
// per backend, however many callers ask.
func shared[T any](ctx context.Context, b *Backend, slot **T, open func() (*T, *cached)) (*T, error) {
	b.trust.mu.Lock()
	defer b.trust.mu.Unlock()
	if *slot != nil {
		return *slot, nil
	}
	v, c := open()
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	c.watch()
	*slot = v
	return v, nil
}

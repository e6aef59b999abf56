package pgs3

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/names"
)

// Removals is the hosts taken out of the fleet, in PostgreSQL: `cis490
// host remove` marks them, any receiver's enrollment clears them, every
// receiver's detector reads them.
func (b *Backend) Removals() fleethealth.Removals { return removals{b} }

type removals struct{ b *Backend }

var _ fleethealth.Removals = removals{}

// Removed returns the removed hosts; unreadable, none (with the error),
// as an unreadable file removes no host.
func (r removals) Removed() (map[string]time.Time, error) {
	m := map[string]time.Time{}
	ctx, cancel := r.b.call()
	defer cancel()
	rows, err := r.b.pool.Query(ctx, `SELECT host, removed FROM removed_hosts`)
	if err != nil {
		return m, fmt.Errorf("read the removed hosts from PostgreSQL: %w", err)
	}
	var host string
	var at int64
	_, err = pgx.ForEachRow(rows, []any{&host, &at}, func() error {
		m[host] = time.Unix(0, at).UTC()
		return nil
	})
	if err != nil {
		return map[string]time.Time{}, fmt.Errorf("read the removed hosts from PostgreSQL: %w", err)
	}
	return m, nil
}

// Mark records host as removed at at; a zero at clears it, as the file
// store's does.
func (r removals) Mark(host string, at time.Time) error {
	if at.IsZero() {
		return r.Clear(host)
	}
	if _, err := names.Host(host); err != nil {
		return fmt.Errorf("mark %q removed: %w", host, err)
	}
	ctx, cancel := r.b.call()
	defer cancel()
	_, err := r.b.pool.Exec(ctx, `INSERT INTO removed_hosts (host, removed) VALUES ($1, $2)
		ON CONFLICT (host) DO UPDATE SET removed = excluded.removed`, host, at.UnixNano())
	if err != nil {
		return fmt.Errorf("mark %s removed in PostgreSQL: %w", host, err)
	}
	return nil
}

// Clear watches host again; a host never removed is no error.
func (r removals) Clear(host string) error {
	if _, err := names.Host(host); err != nil {
		return fmt.Errorf("clear %q's removal: %w", host, err)
	}
	ctx, cancel := r.b.call()
	defer cancel()
	if _, err := r.b.pool.Exec(ctx, `DELETE FROM removed_hosts WHERE host = $1`, host); err != nil {
		return fmt.Errorf("clear %s's removal in PostgreSQL: %w", host, err)
	}
	return nil
}

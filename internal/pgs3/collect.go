package pgs3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrphanAge is how old an object must be before Collect may take it for
// an orphan: far longer than a batch may take from its PUT to its commit
// (batchTimeout), and than the clocks of the bucket and the receivers differ.
const OrphanAge = time.Hour

// Collect deletes the objects no batch committed (bytes a receiver
// uploaded before it was killed, or whose transaction failed), and those
// retention dropped more than OrphanAge ago. It marks an orphan dead in
// the objects table first; a batch that comes back later cannot then
// commit extents into it, as its own insert of the object's row fails.
// Several receivers may collect at once. It returns how many objects it
// deleted.
func (b *Backend) Collect(ctx context.Context, now time.Time) (int, error) {
	var dead []string
	err := b.obj.list(ctx, func(o stored) error {
		if o.modified.IsZero() || now.Sub(o.modified) < OrphanAge || !ours(o.name) {
			return nil
		}
		var live bool
		err := b.pool.QueryRow(ctx, `WITH ins AS (
				INSERT INTO objects (name, size, live) VALUES ($1, 0, false) ON CONFLICT (name) DO NOTHING RETURNING live)
			SELECT live FROM ins UNION ALL SELECT live FROM objects WHERE name = $1 LIMIT 1`, o.name).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			// A batch inserted the row while this statement waited, after
			// its snapshot: the object is that batch's. Leave it.
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark object %s dead: %w", o.name, err)
		}
		if !live {
			dead = append(dead, o.name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range dead {
		if err := b.obj.remove(ctx, name); err != nil {
			return n, err
		}
		n++
	}
	// Objects retention or compaction left unreferenced, once no reader
	// can still be fetching them. No batch can refer to one again (names
	// are never reused), so their rows go too.
	rows, err := b.pool.Query(ctx, `SELECT name FROM objects WHERE dropped < $1`, now.Add(-OrphanAge))
	if err != nil {
		return n, fmt.Errorf("find dropped objects: %w", err)
	}
	dropped, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return n, fmt.Errorf("find dropped objects: %w", err)
	}
	for _, name := range dropped {
		if err := b.obj.remove(ctx, name); err != nil && status(err) != 404 {
			return n, err
		}
		if _, err := b.pool.Exec(ctx, `DELETE FROM objects WHERE name = $1 AND dropped IS NOT NULL`, name); err != nil {
			return n, fmt.Errorf("forget object %s: %w", name, err)
		}
		n++
	}
	if n > 0 {
		b.log.Info("collected orphan objects", "objects", n)
	}
	return n, nil
}

// ours reports whether name has a shape this backend writes (a batch's
// b/<time>-<hex>, a release file's r/<version>/<file>/<hex>): anything
// else under the prefix is somebody else's, and is never collected.
func ours(name string) bool {
	switch {
	case strings.HasPrefix(name, "b/"):
		ts, rnd, ok := strings.Cut(name[2:], "-")
		return ok && len(ts) > 0 && !strings.Contains(rnd, "/") && isHex(rnd)
	case strings.HasPrefix(name, "r/"):
		parts := strings.Split(name, "/")
		return len(parts) == 4 && isHex(parts[3])
	}
	return false
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

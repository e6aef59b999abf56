package pgs3

import (
	"context"
	"fmt"
	"time"
)

// OrphanAge is how old an object must be before Collect may take it for
// an orphan: far longer than a batch may take from its PUT to its commit
// (batchTimeout), and than the clocks of the bucket and the receivers differ.
const OrphanAge = time.Hour

// Collect deletes the objects no batch committed: bytes a receiver
// uploaded before it was killed, or whose transaction failed. It marks
// each dead in the objects table first; a batch that comes back later
// cannot then commit extents into it, as its own insert of the object's
// row fails. Several receivers may collect at once. It returns how many
// objects it deleted.
func (b *Backend) Collect(ctx context.Context, now time.Time) (int, error) {
	var dead []string
	err := b.obj.list(ctx, func(o stored) error {
		if o.modified.IsZero() || now.Sub(o.modified) < OrphanAge {
			return nil
		}
		var live bool
		err := b.pool.QueryRow(ctx, `WITH ins AS (
				INSERT INTO objects (name, size, live) VALUES ($1, 0, false) ON CONFLICT (name) DO NOTHING RETURNING live)
			SELECT live FROM ins UNION ALL SELECT live FROM objects WHERE name = $1 LIMIT 1`, o.name).Scan(&live)
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
	if n > 0 {
		b.log.Info("collected orphan objects", "objects", n)
	}
	return n, nil
}

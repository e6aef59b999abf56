package pgs3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Retention says what the maintainer keeps; zero fields keep everything.
type Retention struct {
	MaxAge   time.Duration // drop bytes stored longer ago than this
	MaxBytes int64         // keep at most this much in all, oldest dropped first
	// IndexMaxAge drops index lines older than this.
	IndexMaxAge time.Duration
}

// Maintained is what one maintenance run did.
type Maintained struct {
	Held      bool  // this receiver held the lease and ran
	Streams   int   // streams whose start moved
	Bytes     int64 // bytes dropped
	Objects   int   // objects no extent refers to any more, left to Collect
	Lines     int64 // index lines dropped
	Merged    int   // small objects merged into bigger ones
	Filters   int   // search filters built (blocks of streams' bytes)
	Collected int   // objects deleted from the bucket
}

// maintainLease is the lease one receiver at a time maintains under.
const maintainLease = "maintenance"

// Maintain runs retention, merges small objects, and then collects garbage, if no other receiver
// is maintaining: it takes the maintenance lease for lease, and every
// change it makes is fenced by it. Objects retention leaves unreferenced
// are deleted by Collect only once OrphanAge has passed, as a reader may
// still be fetching them.
func (b *Backend) Maintain(ctx context.Context, r Retention, now time.Time, d time.Duration) (Maintained, error) {
	var m Maintained
	l, ok, err := b.acquire(ctx, maintainLease, d)
	if err != nil || !ok {
		return m, err
	}
	defer l.release(context.WithoutCancel(ctx))
	m.Held = true
	if r.MaxAge > 0 {
		if err := b.retainBefore(ctx, l, now.Add(-r.MaxAge).UnixNano(), now, &m); err != nil {
			return m, err
		}
	}
	if r.MaxBytes > 0 {
		cut, err := b.bytesCutoff(ctx, r.MaxBytes)
		if err != nil {
			return m, err
		}
		if cut > 0 {
			if err := b.retainBefore(ctx, l, cut, now, &m); err != nil {
				return m, err
			}
		}
	}
	if r.IndexMaxAge > 0 {
		err := l.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM index_lines WHERE ts < $1`, now.Add(-r.IndexMaxAge))
			m.Lines = tag.RowsAffected()
			return err
		})
		if err != nil {
			return m, fmt.Errorf("prune the index: %w", err)
		}
	}
	if m.Merged, err = b.compact(ctx, l, now); err != nil {
		return m, err
	}
	if m.Filters, err = b.buildFilters(ctx, l, now); err != nil {
		return m, err
	}
	m.Collected, err = b.Collect(ctx, now)
	return m, err
}

// retainStreams is how many streams one retention transaction cuts.
const retainStreams = 100

// retainBefore drops every stream's appends stored before cut (unix ns):
// its start moves past its last append before cut, its host's held
// bytes go down, and objects no extent refers to any more are marked
// dropped.
func (b *Backend) retainBefore(ctx context.Context, l *lease, cut int64, now time.Time, m *Maintained) error {
	for {
		rows, err := b.pool.Query(ctx, `SELECT DISTINCT host, stream FROM extents WHERE t < $1 ORDER BY host, stream LIMIT $2`, cut, retainStreams)
		if err != nil {
			return fmt.Errorf("find what retention drops: %w", err)
		}
		type key struct{ host, stream string }
		keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (key, error) {
			var k key
			return k, r.Scan(&k.host, &k.stream)
		})
		if err != nil {
			return fmt.Errorf("find what retention drops: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		err = l.inTx(ctx, func(tx pgx.Tx) error {
			for _, k := range keys {
				var start int64
				err := tx.QueryRow(ctx, `SELECT start FROM streams WHERE host = $1 AND stream = $2 FOR UPDATE`, k.host, k.stream).Scan(&start)
				if errors.Is(err, pgx.ErrNoRows) {
					continue
				}
				if err != nil {
					return err
				}
				// Everything up to the end of the last append stored before
				// cut goes: with a clock stepped back, an old append may
				// follow a newer one, which goes with it (and each stream
				// found is then done, so the loop ends).
				var keep int64
				err = tx.QueryRow(ctx, `SELECT coalesce(max(off + n), $3) FROM extents WHERE host = $1 AND stream = $2 AND t < $4`,
					k.host, k.stream, start, cut).Scan(&keep)
				if err != nil {
					return err
				}
				objects, err := dropBelow(ctx, tx, k.host, k.stream, start, keep, now)
				if err != nil {
					return err
				}
				m.Objects += objects
				if keep <= start {
					continue
				}
				m.Streams++
				m.Bytes += keep - start
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
	}
}

// bytesCutoff is the time before which appends must go for what is held
// to fit in max; 0 when it fits.
func (b *Backend) bytesCutoff(ctx context.Context, max int64) (int64, error) {
	var held int64
	if err := b.pool.QueryRow(ctx, `SELECT coalesce(sum(held), 0) FROM hosts`).Scan(&held); err != nil {
		return 0, fmt.Errorf("sum what is held: %w", err)
	}
	excess := held - max
	if excess <= 0 {
		return 0, nil
	}
	// The oldest appends, oldest first, until they cover the excess.
	var cut int64
	err := b.pool.QueryRow(ctx, `SELECT t FROM (
			SELECT t, sum(n) OVER (ORDER BY t, host, stream, off) AS upto FROM extents) x
		WHERE upto >= $1 ORDER BY t LIMIT 1`, excess).Scan(&cut)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the oldest bytes: %w", err)
	}
	return cut + 1, nil
}

// dropBelow drops a stream's appends below keep, within tx which holds
// the stream's row: its start moves up from start (never down), its
// host's held bytes go down, and the objects no extent refers to any more
// are marked dropped at now. It returns how many objects were.
func dropBelow(ctx context.Context, tx pgx.Tx, host, stream string, start, keep int64, now time.Time) (int, error) {
	rows, err := tx.Query(ctx, `DELETE FROM extents WHERE host = $1 AND stream = $2 AND off + n <= $3 RETURNING object`, host, stream, keep)
	if err != nil {
		return 0, err
	}
	objs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	// An object is dropped once no extent refers to it; a separate
	// statement, as one with the DELETE would still see the deleted rows.
	tag, err := tx.Exec(ctx, `UPDATE objects SET dropped = $2 WHERE name = ANY($1) AND dropped IS NULL
		AND NOT EXISTS (SELECT 1 FROM extents e WHERE e.object = objects.name)`, objs, now)
	if err != nil {
		return 0, err
	}
	if keep > start {
		// Past the length (a folder's retention ran beyond what an
		// earlier cis490 migrate copied), the stream is empty from keep
		// on: only the bytes it held stop counting.
		var length int64
		if err := tx.QueryRow(ctx, `SELECT length FROM streams WHERE host = $1 AND stream = $2`, host, stream).Scan(&length); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE streams SET start = $3, length = greatest(length, $3) WHERE host = $1 AND stream = $2`, host, stream, keep); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE hosts SET held = held - $2 WHERE host = $1`, host, min(keep, length)-start); err != nil {
			return 0, err
		}
		// The search filters of the bytes that went, with them.
		if _, err := tx.Exec(ctx, `DELETE FROM stream_filters WHERE host = $1 AND stream = $2 AND to_off <= $3`, host, stream, keep); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM stream_tails WHERE host = $1 AND stream = $2 AND to_off <= $3`, host, stream, keep); err != nil {
			return 0, err
		}
	}
	return int(tag.RowsAffected()), nil
}

package pgs3

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Compaction merges small objects: a quiet fleet makes one small object
// per batch, and on real S3 every object costs its PUT, its GETs and its
// per-object fees. Objects under smallObject, older than compactAge (no
// batch is still writing extents that point into them), are rewritten
// together, up to compactBytes at a time, into one new object; their
// extents are repointed in one fenced transaction and the old objects
// are dropped, deleted by Collect once a reader can no longer need them.
const (
	smallObject  = 1 << 20
	compactBytes = 64 << 20
	compactAge   = 10 * time.Minute
)

// compactPiece is an extent of an object being merged.
type compactPiece struct {
	host, stream string
	off, n       int64
	object       string
	pos          int64
}

// compact merges small objects under l; it returns how many it merged.
func (b *Backend) compact(ctx context.Context, l *lease, now time.Time) (int, error) {
	merged := 0
	for {
		rows, err := b.pool.Query(ctx, `SELECT o.name FROM objects o
			WHERE o.live AND o.dropped IS NULL AND o.size < $1 AND o.created < $2
			  AND EXISTS (SELECT 1 FROM extents e WHERE e.object = o.name)
			ORDER BY o.created LIMIT 1000`, smallObject, now.Add(-compactAge))
		if err != nil {
			return merged, fmt.Errorf("find small objects: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return merged, fmt.Errorf("find small objects: %w", err)
		}
		if len(names) < 2 {
			return merged, nil
		}
		rows, err = b.pool.Query(ctx, `SELECT host, stream, off, n, object, pos FROM extents WHERE object = ANY($1) ORDER BY object, pos`, names)
		if err != nil {
			return merged, fmt.Errorf("read small objects' extents: %w", err)
		}
		pieces, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (compactPiece, error) {
			var p compactPiece
			return p, r.Scan(&p.host, &p.stream, &p.off, &p.n, &p.object, &p.pos)
		})
		if err != nil {
			return merged, fmt.Errorf("read small objects' extents: %w", err)
		}
		// Whole objects only, up to compactBytes.
		var size int64
		var took []string
		var moved []compactPiece
		var spans [][2]int // took[i]'s pieces: moved[spans[i][0]:spans[i][1]]
		for i := 0; i < len(pieces); {
			j := i
			var objSize int64
			for j < len(pieces) && pieces[j].object == pieces[i].object {
				objSize += pieces[j].n
				j++
			}
			if len(took) > 0 && size+objSize > compactBytes {
				break
			}
			size += objSize
			spans = append(spans, [2]int{len(moved), len(moved) + j - i})
			moved = append(moved, pieces[i:j]...)
			took = append(took, pieces[i].object)
			i = j
		}
		if len(took) < 2 {
			return merged, nil
		}
		// Each stream's pieces side by side, in offset order: a read of a
		// stream's block then takes one GET of the merged object where it
		// took one per batch its bytes came in (a host shipping every few
		// seconds: one per append). The layout is decided before any
		// object is read, so that each object's bytes go straight to
		// their place: an object is fetched from its first live byte to
		// its last, which may be most of it where retention dropped the
		// middle, and holding every one until the end would hold up to
		// a MiB an object rather than compactBytes.
		order := make([]int, len(moved))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			pa, pb := moved[a], moved[b]
			return cmp.Or(strings.Compare(pa.host, pb.host), strings.Compare(pa.stream, pb.stream), cmp.Compare(pa.off, pb.off))
		})
		newPos := make([]int64, len(moved))
		var at int64
		for _, i := range order {
			newPos[i] = at
			at += moved[i].n
		}
		body := make([]byte, size)
		for k, name := range took {
			// One GET per object: from its first extent's byte to its last's.
			ps := moved[spans[k][0]:spans[k][1]]
			lo, hi := ps[0].pos, int64(0)
			for _, p := range ps {
				hi = max(hi, p.pos+p.n)
			}
			buf := make([]byte, hi-lo)
			if err := b.obj.readAt(ctx, name, buf, lo); err != nil {
				return merged, err
			}
			for i, p := range ps {
				copy(body[newPos[spans[k][0]+i]:], buf[p.pos-lo:p.pos-lo+p.n])
			}
		}
		name := objectName(now)
		if err := b.obj.create(ctx, name, body); err != nil {
			return merged, err
		}
		err = l.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO objects (name, size, live) VALUES ($1, $2, true)`, name, len(body)); err != nil {
				return err
			}
			var batch pgx.Batch
			for i, p := range moved {
				batch.Queue(`UPDATE extents SET object = $5, pos = $6 WHERE host = $1 AND stream = $2 AND off = $3 AND object = $4`,
					p.host, p.stream, p.off, p.object, name, newPos[i])
			}
			if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE objects SET dropped = $2 WHERE name = ANY($1) AND dropped IS NULL
				AND NOT EXISTS (SELECT 1 FROM extents e WHERE e.object = objects.name)`, took, now)
			return err
		})
		if err != nil {
			// The new object is an orphan now: Collect takes it.
			return merged, fmt.Errorf("compact %d objects: %w", len(took), err)
		}
		merged += len(took)
	}
}

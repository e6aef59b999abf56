package pgs3

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/store"
)

// Search filters on postgres+s3: the maintainer builds one token filter
// (Options.BuildFilter, search.FilterOf) per filterBlock of each stream's
// bytes once they are older than compactAge, into stream_filters, and
// moves the stream's filtered_to past them. They are kept by stream
// offsets, not by object: compaction rewrites objects but never a
// stream's bytes, so a filter outlives the objects its bytes moved
// through, and a search reads a host's filters in one query. Retention
// deletes the filters of the bytes it drops. A search scans what has none
// yet.
const (
	// filterBlock is a quarter of the local store's: a block that may
	// hold the words is fetched from S3, and the bytes fetched for a
	// rare word fall with it (49.5 to 19.2 MiB a GiB, bench/README.md),
	// for filters an eighth bigger. Blocks built with 1 MiB before stay
	// as they are.
	filterBlock   = 256 << 10
	filterContext = 64 << 10
	// filterQuiet: a stream's bytes older than this get a filter even
	// if they make less than a block (a quiet stream).
	filterQuiet = time.Hour
	// filterStreams is how many streams one pass looks at.
	filterStreams = 200
)

// tailCurrent says a tail filter t still stands for its stream s: the
// stream has grown neither past it nor its filtered_to (filterTail).
const tailCurrent = `t.from_off = s.filtered_to AND t.to_off = s.length`

// searchFilters is every filter a search may skip by: the blocks' and
// the tail filters that still stand (line_end null: not known).
const searchFilters = `(SELECT host, stream, from_off, to_off, filter, line_end FROM stream_filters
	UNION ALL SELECT t.host, t.stream, t.from_off, t.to_off, t.filter, NULL FROM stream_tails t JOIN streams s USING (host, stream)
		WHERE ` + tailCurrent + `) f`

// Filters returns the filters of key's blocks overlapping [from, to), in
// offset order (search.Filterer).
func (s *Streams) Filters(ctx context.Context, key store.Key, from, to int64) ([]store.Filter, error) {
	rows, err := s.b.pool.Query(ctx, `SELECT from_off, to_off, filter, line_end FROM `+searchFilters+`
		WHERE host = $1 AND stream = $2 AND to_off > $3 AND from_off < $4 ORDER BY from_off`, key.Host, key.Stream, from, to)
	if err != nil {
		return nil, fmt.Errorf("read %s's search filters: %w", key, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Filter, error) {
		var f store.Filter
		var lineEnd *bool
		err := r.Scan(&f.From, &f.To, &f.Data, &lineEnd)
		f.Edge = edgeOf(lineEnd)
		return f, err
	})
}

// HostFilters returns the filters of all of host's streams by stream, in
// offset order, if there are at most limit (search.HostFilterer): one
// query a host instead of one a stream.
func (s *Streams) HostFilters(ctx context.Context, host string, limit int) (map[string][]store.Filter, bool, error) {
	rows, err := s.b.pool.Query(ctx, `SELECT stream, from_off, to_off, filter, line_end FROM `+searchFilters+`
		WHERE host = $1 ORDER BY stream, from_off LIMIT $2`, host, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("read %s's search filters: %w", host, err)
	}
	out := map[string][]store.Filter{}
	n := 0
	var stream string
	var f store.Filter
	var lineEnd *bool
	_, err = pgx.ForEachRow(rows, []any{&stream, &f.From, &f.To, &f.Data, &lineEnd}, func() error {
		f.Edge = edgeOf(lineEnd)
		out[stream] = append(out[stream], f)
		n++
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read %s's search filters: %w", host, err)
	}
	if n > limit {
		return nil, false, nil
	}
	return out, true, nil
}

// edgeOf is the Edge of a filter whose line_end is lineEnd (nil: built
// before it was kept).
func edgeOf(lineEnd *bool) store.Edge {
	switch {
	case lineEnd == nil:
		return store.EdgeUnknown
	case *lineEnd:
		return store.EdgeLineEnds
	}
	return store.EdgeMidLine
}

// buildFilters builds the filters of every stream's bytes old enough,
// under the maintenance lease; it returns how many blocks it built.
func (b *Backend) buildFilters(ctx context.Context, l *lease, now time.Time) (int, error) {
	if b.opt.BuildFilter == nil {
		return 0, nil
	}
	type todo struct {
		key                 store.Key
		start, length, done int64
	}
	built := 0
	var after store.Key // paging through the streams
	for {
		// Not the streams whose tail filter is up to date.
		rows, err := b.pool.Query(ctx, `SELECT host, stream, start, length, filtered_to FROM streams s
			WHERE filtered_to < length AND (host, stream) > ($1, $2)
				AND NOT EXISTS (SELECT FROM stream_tails t WHERE t.host = s.host AND t.stream = s.stream AND `+tailCurrent+`)
			ORDER BY host, stream LIMIT $3`, after.Host, after.Stream, filterStreams)
		if err != nil {
			return built, fmt.Errorf("find streams to filter: %w", err)
		}
		todos, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (todo, error) {
			var t todo
			return t, r.Scan(&t.key.Host, &t.key.Stream, &t.start, &t.length, &t.done)
		})
		if err != nil {
			return built, fmt.Errorf("find streams to filter: %w", err)
		}
		for _, t := range todos {
			n, err := b.filterStream(ctx, l, t.key, max(t.done, t.start), now)
			built += n
			if err != nil {
				return built, err
			}
		}
		if len(todos) < filterStreams {
			return built, nil
		}
		after = todos[len(todos)-1].key
	}
}

// filterStream builds key's filters from offset from on, for the bytes
// older than compactAge (batches may still be writing newer ones). It
// reads a window of blocks at once and stores the window's filters in
// one transaction: read block by block, with their context, the bytes
// went through twice as many GETs and a transaction each.
func (b *Backend) filterStream(ctx context.Context, l *lease, key store.Key, from int64, now time.Time) (int, error) {
	// The end of what is old enough, and when its last byte came.
	var limit, lastT int64
	err := b.pool.QueryRow(ctx, `SELECT coalesce((SELECT min(off) FROM extents WHERE host = $1 AND stream = $2 AND off >= $3 AND t >= $4),
			(SELECT length FROM streams WHERE host = $1 AND stream = $2)),
		coalesce((SELECT max(t) FROM extents WHERE host = $1 AND stream = $2 AND t < $4), 0)`,
		key.Host, key.Stream, from, now.Add(-compactAge).UnixNano()).Scan(&limit, &lastT)
	if err != nil {
		return 0, fmt.Errorf("find %s's bytes to filter: %w", key, err)
	}
	quiet := lastT <= now.Add(-filterQuiet).UnixNano()
	built := 0
	st := b.Streams()
	for from < limit {
		if limit-from < filterBlock && !quiet {
			return built, nil // a small block of a stream still writing: wait for more
		}
		end := min(from+filterWindow, limit)
		lo := max(0, from-filterContext)
		data, info, err := st.Read(ctx, key, lo, int(end+filterContext-lo))
		if err != nil {
			return built, fmt.Errorf("read %s to build its search filter: %w", key, err)
		}
		at := max(lo, info.Start)
		if from < at || int64(len(data)) < end-at {
			return built, nil // retention took it meanwhile: the next pass
		}
		var rows []filterRow
		var tail *filterRow // the stream's open last line, as it stands
		wait := false       // for more bytes: the next pass
		for from < end && (from+filterBlock <= end || end == limit) {
			to := min(from+filterBlock, end)
			if wait = to-from < filterBlock && !quiet; wait {
				break // a small block of a stream still writing
			}
			before := data[max(0, from-at-filterContext) : from-at]
			block, rest := data[from-at:to-at], data[to-at:min(int64(len(data)), to-at+filterContext)]
			flt := b.opt.BuildFilter(before, block, rest)
			if flt == nil {
				// Its last line is still open: cut the block at its last
				// line end, or wait for the line to end.
				nl := bytes.LastIndexByte(block, '\n')
				if wait = nl < 0; wait {
					if to == info.Length && quiet {
						tail = &filterRow{from: from, to: to, before: before, block: block}
					}
					break
				}
				to, block = from+int64(nl)+1, block[:nl+1]
				rest = data[to-at : min(int64(len(data)), to-at+filterContext)]
				if flt = b.opt.BuildFilter(before, block, rest); flt == nil {
					wait = true
					break
				}
			}
			rows = append(rows, filterRow{from: from, to: to, flt: flt, lineEnd: block[len(block)-1] == '\n'})
			from = to
		}
		stored, err := b.storeFilters(ctx, l, key, rows)
		built += stored
		if err != nil || stored < len(rows) {
			return built, err
		}
		if tail != nil {
			return built + 1, b.filterTail(ctx, l, key, tail.from, tail.to, tail.before, tail.block)
		}
		if wait {
			return built, nil
		}
	}
	return built, nil
}

// filterWindow is how much of a stream the maintainer reads at once to
// build its filters.
const filterWindow = 16 * filterBlock

// filterRow is a block's filter to store; before and block are the bytes
// of a tail filter (filterTail).
type filterRow struct {
	from, to      int64
	flt           []byte
	lineEnd       bool
	before, block []byte
}

// storeFilters stores rows, consecutive blocks of key from its
// filtered_to on, in one transaction, and moves filtered_to past them; it
// returns how many it stored (none if another maintainer moved it).
func (b *Backend) storeFilters(ctx context.Context, l *lease, key store.Key, rows []filterRow) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	first, last := rows[0], rows[len(rows)-1]
	stored := 0
	err := l.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE streams SET filtered_to = $4 WHERE host = $1 AND stream = $2 AND filtered_to <= $3`, key.Host, key.Stream, first.from, last.to)
		if err != nil || tag.RowsAffected() == 0 {
			return err // another maintainer moved it: nothing to add
		}
		var batch pgx.Batch
		for _, r := range rows {
			batch.Queue(`INSERT INTO stream_filters (host, stream, from_off, to_off, filter, line_end) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (host, stream, from_off) DO UPDATE SET to_off = excluded.to_off, filter = excluded.filter, line_end = excluded.line_end`,
				key.Host, key.Stream, r.from, r.to, r.flt, r.lineEnd)
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return err
		}
		stored = len(rows)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store %s's search filters: %w", key, err)
	}
	return stored, nil
}

// filterTail stores the filter of a quiet stream's last block, whose last
// line is still open, as the bytes stand: [from, to), to the stream's end.
// Without it every search would fetch every quiet stream's last line, an
// S3 GET each. It is kept apart, in stream_tails, and counts only while
// the stream ends at to (Filters): the line's words to come are not in
// it, and a receiver that predates it must not skip by it. filtered_to
// moves to from only, so the block is built again once the stream grows.
func (b *Backend) filterTail(ctx context.Context, l *lease, key store.Key, from, to int64, before, block []byte) error {
	// The line as it stands, ended: a search's scan takes the stream's
	// last line so, where the stream ends.
	flt := b.opt.BuildFilter(before, block, []byte{'\n'})
	if flt == nil {
		return nil
	}
	err := l.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE streams SET filtered_to = $3 WHERE host = $1 AND stream = $2 AND filtered_to <= $3`, key.Host, key.Stream, from)
		if err != nil || tag.RowsAffected() == 0 {
			return err // another maintainer moved it: nothing to add
		}
		_, err = tx.Exec(ctx, `INSERT INTO stream_tails (host, stream, from_off, to_off, filter) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (host, stream) DO UPDATE SET from_off = excluded.from_off, to_off = excluded.to_off, filter = excluded.filter`,
			key.Host, key.Stream, from, to, flt)
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s's search filter: %w", key, err)
	}
	return nil
}

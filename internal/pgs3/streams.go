package pgs3

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

// Streams is store.Streams over the backend.
type Streams struct{ b *Backend }

// Begin queues the append for the next batch and returns what it did once
// the batch's transaction knows, that transaction still open: Durable
// waits for its commit, and WithLine hands the request's index line to it,
// so that one PostgreSQL commit acknowledges both. A failed batch is an
// error the receiver answers 503, and the host retries.
func (s *Streams) Begin(ctx context.Context, key store.Key, offset int64, gen store.Gen, data []byte) (store.Begun, error) {
	if offset < 0 {
		return store.Begun{}, &store.ConflictError{Reason: wire.ReasonGap}
	}
	// Not cut short when the client goes: the batch decides the outcome
	// either way, and the index line must say which.
	return s.b.appendBegin(&appendOp{key: key, offset: offset, gen: gen, data: data, at: s.b.opt.Now(), lined: true})
}

// Import appends data at offset as Begin does, stamped at and under no
// quota, and waits for its commit: cis490 migrate copies a data folder's
// appends with their times.
func (s *Streams) Import(ctx context.Context, key store.Key, offset int64, gen store.Gen, at time.Time, data []byte) (store.Begun, error) {
	b, err := s.b.appendBegin(&appendOp{key: key, offset: offset, gen: gen, data: data, at: at, free: true})
	if err != nil {
		return b, err
	}
	if err := b.Durable(ctx); err != nil {
		return store.Begun{}, err
	}
	b.Durable = nil
	return b, nil
}

// CreateAt makes key's stream empty from start on, unless it exists: a
// migrated stream whose oldest bytes retention dropped keeps its offsets.
func (s *Streams) CreateAt(ctx context.Context, key store.Key, start int64) error {
	tx, err := s.b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("create stream %s: %w", key, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `INSERT INTO streams (host, stream, start, length) VALUES ($1, $2, $3, $3) ON CONFLICT DO NOTHING`, key.Host, key.Stream, start)
	if err != nil {
		return fmt.Errorf("create stream %s: %w", key, err)
	}
	if tag.RowsAffected() == 1 {
		if _, err := tx.Exec(ctx, `INSERT INTO hosts (host, streams) VALUES ($1, 1) ON CONFLICT (host) DO UPDATE SET streams = hosts.streams + 1`, key.Host); err != nil {
			return fmt.Errorf("create stream %s: %w", key, err)
		}
	}
	return tx.Commit(ctx)
}

// MoveStart drops key's bytes below start, as the data folder's retention
// did since an earlier cis490 migrate copied them.
func (s *Streams) MoveStart(ctx context.Context, key store.Key, start int64) error {
	tx, err := s.b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("move the start of %s: %w", key, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var old int64
	if err := tx.QueryRow(ctx, `SELECT start FROM streams WHERE host = $1 AND stream = $2 FOR UPDATE`, key.Host, key.Stream).Scan(&old); err != nil {
		return fmt.Errorf("move the start of %s: %w", key, err)
	}
	if _, err := dropBelow(ctx, tx, key.Host, key.Stream, old, start, s.b.opt.Now()); err != nil {
		return fmt.Errorf("move the start of %s: %w", key, err)
	}
	return tx.Commit(ctx)
}

// Stat returns a stream's info.
func (s *Streams) Stat(ctx context.Context, key store.Key) (store.Info, bool, error) {
	info, err := s.b.info(ctx, s.b.pool, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Info{}, false, nil
	}
	return info, err == nil, err
}

// List returns a host's streams sorted by name.
func (s *Streams) List(ctx context.Context, host string) ([]store.Info, error) {
	rows, err := s.b.pool.Query(ctx, `SELECT stream, start, length, gen, gen_start, updated FROM streams WHERE host = $1 ORDER BY stream`, host)
	if err != nil {
		return nil, fmt.Errorf("list %s's streams: %w", host, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Info, error) {
		var in store.Info
		err := r.Scan(&in.Stream, &in.Start, &in.Length, &in.Gen, &in.GenStart, &in.Updated)
		return in, err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s's streams: %w", host, err)
	}
	return out, nil
}

// Read returns up to limit bytes of key from offset (moved up to the
// stream's start), fetched with one ranged GET per run of adjacent bytes.
func (s *Streams) Read(ctx context.Context, key store.Key, offset int64, limit int) ([]byte, store.Info, error) {
	return s.read(ctx, key, offset, limit, nil)
}

// ReadInto is Read into buf (up to len(buf) bytes), for a reader that
// reads block after block: a search reuses one buffer (search.IntoReader).
func (s *Streams) ReadInto(ctx context.Context, key store.Key, offset int64, buf []byte) (int, store.Info, error) {
	data, info, err := s.read(ctx, key, offset, len(buf), buf)
	return len(data), info, err
}

// read is Read, into buf if it is not nil (then limit is len(buf)).
func (s *Streams) read(ctx context.Context, key store.Key, offset int64, limit int, buf []byte) ([]byte, store.Info, error) {
	// One statement, so one snapshot, for the stream's row and the
	// extents it describes: retention may move the start between two
	// statements. One round trip rather than a transaction's four: a
	// fleet search reads every stream's unfiltered tail. The objects the
	// extents name stay in the bucket for OrphanAge after retention drops
	// them. The window's end is compared as a difference: offset plus
	// limit may pass a bigint.
	rows, err := s.b.pool.Query(ctx, `SELECT s.start, s.length, s.gen, s.gen_start, s.updated, e.off, e.n, e.object, e.pos
		FROM streams s
		LEFT JOIN LATERAL (
			SELECT x.off, x.n, x.object, x.pos FROM extents x
			WHERE x.host = s.host AND x.stream = s.stream
			  AND x.off < s.length AND x.off - greatest($3::bigint, s.start) < $4::bigint
			  AND x.off >= coalesce((SELECT max(y.off) FROM extents y
				WHERE y.host = s.host AND y.stream = s.stream AND y.off <= greatest($3::bigint, s.start)), 0)
		) e ON greatest($3::bigint, s.start) < s.length AND $4::bigint > 0
		WHERE s.host = $1 AND s.stream = $2
		ORDER BY e.off`, key.Host, key.Stream, offset, max(limit, 0))
	if err != nil {
		return nil, store.Info{}, fmt.Errorf("read stream %s: %w", key, err)
	}
	info := store.Info{Stream: key.Stream}
	var exts []piece
	found := false
	for rows.Next() {
		var eoff, en, epos *int64
		var eobj *string
		if err := rows.Scan(&info.Start, &info.Length, &info.Gen, &info.GenStart, &info.Updated, &eoff, &en, &eobj, &epos); err != nil {
			rows.Close()
			return nil, store.Info{}, fmt.Errorf("read stream %s: %w", key, err)
		}
		found = true
		if eoff != nil {
			exts = append(exts, piece{off: *eoff, n: *en, object: *eobj, pos: *epos})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, store.Info{}, fmt.Errorf("read stream %s: %w", key, err)
	}
	if !found {
		return nil, store.Info{}, store.ErrNotFound
	}
	offset = max(offset, info.Start)
	if offset >= info.Length || limit <= 0 {
		return nil, info, nil
	}
	n := min(int64(limit), info.Length-offset)
	if buf == nil {
		buf = make([]byte, n)
	}
	if err := s.b.fetch(ctx, key, exts, offset, buf[:n]); err != nil {
		return nil, info, err
	}
	return buf[:n], info, nil
}

// readParallel is how many ranged GETs one read has in flight.
const readParallel = 8

// OffsetAt returns the offset of the first append stored at or after t, or
// the length when none was (approximate if a clock stepped back, never out
// of range).
func (s *Streams) OffsetAt(ctx context.Context, key store.Key, t time.Time) (int64, error) {
	info, err := s.b.info(ctx, s.b.pool, key)
	if err != nil {
		return 0, err
	}
	var off int64
	err = s.b.pool.QueryRow(ctx, `SELECT off FROM extents WHERE host = $1 AND stream = $2 AND t >= $3 ORDER BY t, off LIMIT 1`,
		key.Host, key.Stream, t.UnixNano()).Scan(&off)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return info.Length, nil
	case err != nil:
		return 0, fmt.Errorf("find the offset of %s at %s: %w", key, t.Format(time.RFC3339), err)
	}
	return min(max(off, info.Start), info.Length), nil
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (b *Backend) info(ctx context.Context, q querier, key store.Key) (store.Info, error) {
	in := store.Info{Stream: key.Stream}
	err := q.QueryRow(ctx, `SELECT start, length, gen, gen_start, updated FROM streams WHERE host = $1 AND stream = $2`, key.Host, key.Stream).
		Scan(&in.Start, &in.Length, &in.Gen, &in.GenStart, &in.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Info{}, store.ErrNotFound
	}
	if err != nil {
		return store.Info{}, fmt.Errorf("read stream %s: %w", key, err)
	}
	return in, nil
}

// piece is a run of a stream's bytes inside one object.
type piece struct {
	object   string
	pos, off int64 // where it is in the object, and in the stream
	n        int64
}

// readRange reads n bytes of key from off, which the caller knows are
// stored: the extents covering them, merged where an object holds them
// side by side, each fetched with one ranged GET.
func (b *Backend) readRange(ctx context.Context, q querier, key store.Key, off, n int64) ([]byte, error) {
	rows, err := q.Query(ctx, `SELECT off, n, object, pos FROM extents
		WHERE host = $1 AND stream = $2 AND off < $4
		  AND off >= coalesce((SELECT max(off) FROM extents WHERE host = $1 AND stream = $2 AND off <= $3), 0)
		ORDER BY off`, key.Host, key.Stream, off, off+n)
	if err != nil {
		return nil, fmt.Errorf("find %s's bytes: %w", key, err)
	}
	var exts []piece
	for rows.Next() {
		var e piece
		if err := rows.Scan(&e.off, &e.n, &e.object, &e.pos); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find %s's bytes: %w", key, err)
		}
		exts = append(exts, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find %s's bytes: %w", key, err)
	}
	out := make([]byte, n)
	if err := b.fetch(ctx, key, exts, off, out); err != nil {
		return nil, err
	}
	return out, nil
}

// fetch reads [off, off+len(out)) of key into out from exts, the extents
// from the one holding off on, in offset order: clipped to the range,
// merged where an object holds them side by side, each run fetched with
// one ranged GET.
func (b *Backend) fetch(ctx context.Context, key store.Key, exts []piece, off int64, out []byte) error {
	n := int64(len(out))
	var pieces []piece
	for _, e := range exts {
		// Clip to [off, off+n).
		if cut := off - e.off; cut > 0 {
			e.off, e.pos, e.n = e.off+cut, e.pos+cut, e.n-cut
		}
		e.n = min(e.n, off+n-e.off)
		if e.n <= 0 {
			continue
		}
		if k := len(pieces) - 1; k >= 0 && pieces[k].object == e.object && pieces[k].pos+pieces[k].n == e.pos && pieces[k].off+pieces[k].n == e.off {
			pieces[k].n += e.n
			continue
		}
		pieces = append(pieces, e)
	}
	at := off
	for _, p := range pieces {
		if p.off != at {
			return fmt.Errorf("stream %s has no extent at offset %d: the ledger is damaged", key, at)
		}
		at += p.n
	}
	if at != off+n {
		return fmt.Errorf("stream %s has no extent at offset %d: the ledger is damaged", key, at)
	}
	// One ranged GET per run of adjacent bytes in one object, several at
	// once: on a real bucket each costs tens of milliseconds, and a MiB
	// of a stream not yet compacted spans a batch object per request.
	var wg sync.WaitGroup
	errs := make([]error, len(pieces))
	sem := make(chan struct{}, readParallel)
	for i, p := range pieces {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = b.obj.readAt(ctx, p.object, out[p.off-off:p.off-off+p.n], p.pos)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TimeAt returns when the append that holds offset was received, and
// where that append ends: the time holds for the offsets up to it.
func (s *Streams) TimeAt(ctx context.Context, key store.Key, offset int64) (time.Time, int64, error) {
	var t, end *int64
	err := s.b.pool.QueryRow(ctx, `SELECT t, off + n FROM extents WHERE host = $1 AND stream = $2 AND off <= $3 ORDER BY off DESC LIMIT 1`,
		key.Host, key.Stream, offset).Scan(&t, &end)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, offset + 1, nil
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("find when %s's byte %d came: %w", key, offset, err)
	}
	return time.Unix(0, *t).UTC(), *end, nil
}

// HostNames returns every host that has a stream, sorted.
func (s *Streams) HostNames(ctx context.Context) ([]string, error) {
	rows, err := s.b.pool.Query(ctx, `SELECT DISTINCT host FROM streams ORDER BY host`)
	if err != nil {
		return nil, fmt.Errorf("list the hosts: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

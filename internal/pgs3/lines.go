package pgs3

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/index"
)

// Lines is the index kept in PostgreSQL: the receiver's IndexWriter and
// an index.Source for the detector and the admin views.
type Lines struct{ b *Backend }

// Begin queues l for the next batch and returns the wait for its commit.
func (x *Lines) Begin(l index.Line) (groupsync.Durable, error) {
	b, err := l.MarshalJSON()
	if err != nil {
		return nil, err
	}
	op := &lineOp{ts: l.TS, queued: time.Now(), line: b, done: make(chan struct{})}
	if err := x.b.enqueueLine(op); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		select {
		case <-op.done:
			return op.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

// readPage is how many lines one query reads.
const readPage = 4096

// Read implements index.Source. Sequence numbers commit out of order, so
// it never trusts "seq > last": it reads only lines whose transaction is
// below the snapshot horizon (every transaction below it has ended, so
// nothing can still appear there), in (transaction, seq) order, and the
// checkpoint is a place in that order.
func (x *Lines) Read(ctx context.Context, cp index.Checkpoint, since, until time.Time, fn func(*index.Line)) (index.Checkpoint, index.ReadStats, error) {
	var st index.ReadStats
	var p index.Parser
	var l index.Line
	fresh := cp.XID == 0 // a checkpoint of the day files (a migrated detector) starts afresh too
	if fresh {
		cp = index.Checkpoint{}
	}
	h, horizon, err := x.b.horizon(ctx)
	if err != nil {
		return cp, st, fmt.Errorf("read the index: %w", err)
	}
	if cp.XID > horizon {
		// The horizon never goes back on one server: this database was
		// restored or failed over to a replica behind the checkpoint.
		// Lines written from here on would sit below it and be skipped
		// until transaction ids caught up, so read afresh from since.
		x.b.log.Warn("the index checkpoint is ahead of the database (restored, or failed over?): reading afresh from the window's start",
			"checkpoint_xid", cp.XID, "horizon", horizon)
		fresh, cp = true, index.Checkpoint{}
	}
	var from time.Time
	if fresh && !since.IsZero() {
		from = since
	}
	for {
		// ORDER BY names the table's column: a bare "xid" would be the
		// output column xid::text, ordering 10 before 9.
		rows, err := x.b.pool.Query(ctx, `SELECT xid::text, seq, line FROM index_lines
			WHERE xid < $1::text::xid8 AND (xid, seq) > ($2::text::xid8, $3) AND ts >= $4
			ORDER BY index_lines.xid, index_lines.seq LIMIT $5`, h, strconv.FormatUint(cp.XID, 10), int64(cp.Seq), from, readPage)
		if err != nil {
			return cp, st, fmt.Errorf("read the index: %w", err)
		}
		n := 0
		stopped := false
		for rows.Next() {
			n++
			var xs string
			var seq int64
			var text []byte
			if err := rows.Scan(&xs, &seq, &text); err != nil {
				rows.Close()
				return cp, st, fmt.Errorf("read the index: %w", err)
			}
			xid, err := strconv.ParseUint(xs, 10, 64)
			if err != nil {
				rows.Close()
				return cp, st, fmt.Errorf("read the index: transaction id %q: %w", xs, err)
			}
			if err := p.Parse(text, &l); err != nil {
				st.Malformed++
				cp.XID, cp.Seq = xid, uint64(seq)
				continue
			}
			if !until.IsZero() && l.TS.After(until) {
				stopped = true
				break
			}
			l.Seq = uint64(seq)
			fn(&l)
			st.Lines++
			cp = index.Checkpoint{XID: xid, Seq: uint64(seq), TS: l.TS}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return cp, st, fmt.Errorf("read the index: %w", err)
		}
		if stopped {
			return cp, st, nil
		}
		if n < readPage {
			break
		}
	}
	// Every line below the horizon has been read.
	if cp.XID < horizon {
		cp.XID, cp.Seq = horizon, 0
	}
	return cp, st, nil
}

// ImportDay copies one day file of a data folder's index, whole lines
// that parse as index lines, after the first done of them (ImportedDays:
// those an earlier run copied), in one transaction: all or none. It
// returns the lines copied and those skipped (malformed, or torn).
func (x *Lines) ImportDay(ctx context.Context, name string, r io.Reader, done int64) (copied, skipped int64, err error) {
	tx, err := x.b.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("import index day %s: %w", name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	src := newDayLines(r, name)
	for i := int64(0); i < done && src.Next(); i++ {
	}
	if copied, err = tx.CopyFrom(ctx, pgx.Identifier{"index_lines"}, []string{"ts", "line", "origin"}, src); err != nil {
		return 0, 0, fmt.Errorf("import index day %s: %w", name, err)
	}
	if err := src.sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read index day %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("import index day %s: %w", name, err)
	}
	return copied, src.skipped, nil
}

// ImportedDays counts the lines imported from each day file.
func (x *Lines) ImportedDays(ctx context.Context) (map[string]int64, error) {
	rows, err := x.b.pool.Query(ctx, `SELECT origin, count(*) FROM index_lines WHERE origin IS NOT NULL GROUP BY origin`)
	if err != nil {
		return nil, fmt.Errorf("count imported index days: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}

func newDayLines(r io.Reader, name string) *dayLines {
	d := &dayLines{sc: bufio.NewScanner(r), name: name}
	d.sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	return d
}

// dayLines feeds COPY a day file's index lines.
type dayLines struct {
	sc      *bufio.Scanner
	name    string
	p       index.Parser
	l       index.Line
	line    string
	skipped int64
}

func (d *dayLines) Next() bool {
	for d.sc.Scan() {
		b := d.sc.Bytes()
		if d.p.Parse(b, &d.l) != nil {
			d.skipped++
			continue
		}
		d.line = string(b)
		return true
	}
	return false
}

func (d *dayLines) Values() ([]any, error) { return []any{d.l.TS, d.line, d.name}, nil }
func (d *dayLines) Err() error             { return nil }

// EachIndexLine calls fn for every line of r that ImportDay would copy.
func EachIndexLine(r io.Reader, fn func()) error {
	d := newDayLines(r, "")
	for d.Next() {
		fn()
	}
	return d.sc.Err()
}

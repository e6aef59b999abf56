package pgs3

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

// appendOp is one PUT's bytes waiting for a batch.
type appendOp struct {
	key    store.Key
	offset int64
	gen    store.Gen
	data   []byte
	at     time.Time // the backend's clock: the extent's time
	queued time.Time // the wall clock, for Pending
	// free: no quota applies (cis490 migrate copies what was admitted).
	free bool
	// lined: the caller may hand over the request's index line (Begin).
	lined bool
	// ready is closed once res and err say what the append did, its
	// transaction still open; done once that transaction committed or
	// failed (failed then says why).
	ready  chan struct{}
	done   chan struct{}
	res    store.Begun
	err    error
	failed error
	// The request's index line, when its caller hands it over in time
	// (store.Begun.WithLine), is committed in the append's transaction.
	batch   *lineGather
	settled bool // a line was handed over, or the caller waited without one
}

// lineOp is one index line waiting for a batch.
type lineOp struct {
	ts     time.Time
	queued time.Time
	line   []byte
	done   chan struct{}
	err    error
}

// lineWait bounds how long a batch keeps its transaction open for the
// index lines of the appends it has answered. The requests' handlers need
// only to be scheduled; a line later than this follows the commit on the
// lines' own committer.
const lineWait = 20 * time.Millisecond

// lineGather collects the index lines of one batch's requests.
type lineGather struct {
	mu     sync.Mutex
	sealed bool
	want   int // lines still expected
	lines  []*lineOp
	all    chan struct{} // closed when want reaches 0
}

// settle marks op's line as handed over (l) or as not coming (nil). It
// reports false if the batch was already sealed: l must then be written
// after the commit.
func (g *lineGather) settle(op *appendOp, l *lineOp) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealed {
		op.settled = true
		return false
	}
	if l != nil {
		g.lines = append(g.lines, l)
	}
	if !op.settled {
		op.settled = true
		if g.want--; g.want == 0 {
			close(g.all)
		}
	}
	return true
}

// seal ends the gathering and returns the lines handed over in time.
func (g *lineGather) seal() []*lineOp {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sealed = true
	return g.lines
}

// wait returns once every expected line came, or after lineWait.
func (g *lineGather) wait(ctx context.Context) {
	g.mu.Lock()
	want := g.want
	g.mu.Unlock()
	if want == 0 {
		return
	}
	t := time.NewTimer(lineWait)
	defer t.Stop()
	select {
	case <-g.all:
	case <-t.C:
	case <-ctx.Done():
	}
}

// durable waits for the commit of op's batch.
func (op *appendOp) durable(ctx context.Context) error {
	if op.batch != nil {
		op.batch.settle(op, nil) // waiting without a line: none is coming
	}
	select {
	case <-op.done:
		return op.failed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchTimeout bounds one batch's commit, its PUT and its transaction. It
// is checked again just before COMMIT with the monotonic clock, which runs
// on while a process is stopped: a receiver that was SIGSTOPped must not
// come back and commit what its hosts were long since told failed. The
// collector waits far longer (OrphanAge) before it deletes an orphan.
const batchTimeout = time.Minute

// commitLoop takes batches and commits them until the backend closes:
// appends (their bytes, extents and lines) or, on the lines' own
// committer, index lines alone. A request's line is written once its
// append committed; kept apart, it waits for one PostgreSQL commit, not
// for the next batch's upload too.
func (b *Backend) commitLoop(ctx context.Context, lines bool) {
	for {
		apps, ls, ok := b.take(lines)
		if !ok {
			return
		}
		if len(apps) == 0 && len(ls) == 0 {
			continue
		}
		b.commit(ctx, apps, ls)
		if len(apps) > 0 {
			b.mu.Lock()
			b.committing--
			b.mu.Unlock()
			signal(b.wake) // what waited for this batch
		}
	}
}

// take waits for work and takes a batch: every line waiting (lines), or
// appends up to BatchBytes (at least one). ok is false once closed and
// drained.
func (b *Backend) take(lines bool) (apps []*appendOp, ls []*lineOp, ok bool) {
	wake := b.wake
	if lines {
		wake = b.wakeLines
	}
	for {
		b.mu.Lock()
		if lines && len(b.lines) > 0 {
			ls, b.lines = b.lines, nil
			b.mu.Unlock()
			return nil, ls, true
		}
		// A second batch waits for the first, unless a full batch is
		// queued or the oldest append has waited secondBatchAfter (the
		// first may be stuck on a row another receiver holds).
		var lag time.Duration
		start := false
		if !lines && len(b.appends) > 0 {
			lag = secondBatchAfter - time.Since(b.appends[0].queued)
			start = b.committing == 0 || b.queuedBytes >= b.opt.BatchBytes || lag <= 0
		}
		if start {
			var size int64
			n := 0
			for n < len(b.appends) && (n == 0 || size+int64(len(b.appends[n].data)) <= b.opt.BatchBytes) {
				size += int64(len(b.appends[n].data))
				n++
			}
			apps = append(apps, b.appends[:n]...)
			b.appends = slices.Delete(b.appends, 0, n)
			b.queuedBytes -= size
			b.committing++
			more := len(b.appends) > 0
			b.mu.Unlock()
			if more {
				signal(b.wake) // another committer can take the rest
			}
			return apps, nil, true
		}
		closed := b.closed
		b.mu.Unlock()
		if closed {
			signal(wake) // wake the other committers to see it too
			return nil, nil, false
		}
		if lag > 0 {
			t := time.NewTimer(lag)
			select {
			case <-wake:
			case <-t.C:
			}
			t.Stop()
		} else {
			<-wake
		}
	}
}

// secondBatchAfter is how long an append waits for the batch before it
// to end before a second committer takes it anyway: many times a batch's
// usual commit, so batches stay large, but a batch stuck on a row lock
// (until PostgreSQL ends a stopped receiver's session, IdleTx) holds the
// appends behind it only that long.
const secondBatchAfter = 250 * time.Millisecond

// appendBegin queues op for the next batch and waits until its batch says
// what it did: what Streams.Begin returns. The bytes are durable once
// Durable returns nil.
func (b *Backend) appendBegin(op *appendOp) (store.Begun, error) {
	op.queued, op.ready, op.done = time.Now(), make(chan struct{}), make(chan struct{})
	if err := enqueue(b, &b.appends, op, b.wake, int64(len(op.data))); err != nil {
		return store.Begun{}, err
	}
	<-op.ready
	if op.err != nil {
		return op.res, op.err
	}
	res := op.res
	res.Durable = op.durable
	if op.batch != nil {
		res.WithLine = b.withLine(op)
	}
	return res, nil
}

// withLine hands the request's index line to op's batch: committed in its
// transaction if it comes in time, else written after that commit.
func (b *Backend) withLine(op *appendOp) func(ts time.Time, line []byte) (store.Durable, error) {
	return func(ts time.Time, line []byte) (store.Durable, error) {
		l := &lineOp{ts: ts, queued: time.Now(), line: line, done: make(chan struct{})}
		if op.batch.settle(op, l) {
			return op.durable, nil
		}
		return func(ctx context.Context) error {
			if err := op.durable(ctx); err != nil {
				return err
			}
			if err := b.enqueueLine(l); err != nil {
				return err
			}
			return l.wait(ctx)
		}, nil
	}
}

// wait waits for the commit of l's batch.
func (l *lineOp) wait(ctx context.Context) error {
	select {
	case <-l.done:
		return l.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backend) enqueueLine(op *lineOp) error { return enqueue(b, &b.lines, op, b.wakeLines, 0) }

// enqueue adds op, of size bytes, to the queue q of b and wakes a
// committer.
func enqueue[T any](b *Backend, q *[]T, op T, wake chan struct{}, size int64) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	*q = append(*q, op)
	b.queuedBytes += size
	b.mu.Unlock()
	signal(wake)
	return nil
}

// batchTimes is a batch being committed, for Pending.
type batchTimes struct{ oldest time.Time }

// commit stores one batch: the appends' bytes as one object, then one
// transaction for their extents and the lines. Every op is finished.
func (b *Backend) commit(ctx context.Context, apps []*appendOp, lines []*lineOp) {
	started := time.Now()
	bt := &batchTimes{oldest: started}
	if len(apps) > 0 && apps[0].queued.Before(bt.oldest) { // queues are oldest first
		bt.oldest = apps[0].queued
	}
	if len(lines) > 0 && lines[0].queued.Before(bt.oldest) {
		bt.oldest = lines[0].queued
	}
	b.mu.Lock()
	b.inflight[bt] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.inflight, bt)
		observe := b.observe
		b.mu.Unlock()
		if observe != nil {
			end := time.Now()
			observe(groupsync.Round{Sync: end.Sub(started), Oldest: end.Sub(bt.oldest)})
		}
	}()
	// A batch that cannot finish in time fails (503: the hosts retry,
	// perhaps on another receiver) rather than holding its requests.
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	// The connection first: with PostgreSQL down, nothing is uploaded
	// that could never be committed (every retry would leave an orphan).
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		err = fmt.Errorf("connect to PostgreSQL: %w", err)
		b.log.Error("commit a batch; answering its requests 503", "err", err, "appends", len(apps), "lines", len(lines))
		finishApps(apps, err)
		finishLines(lines, err)
		return
	}
	defer conn.Release()
	var name string
	var pos []int64 // each append's position in the object
	var upload chan error
	if len(apps) > 0 {
		name = objectName(b.opt.Now())
		var body []byte
		for _, op := range apps {
			pos = append(pos, int64(len(body)))
			body = append(body, op.data...)
		}
		// The upload runs beside the transaction, which needs the bytes
		// only at COMMIT: a batch costs the longer of the two, not both.
		upload = make(chan error, 1)
		go func() { upload <- b.obj.create(ctx, name, body) }()
	}
	tb := &txBatch{name: name, apps: apps, pos: pos, lines: lines, started: started, upload: upload}
	for try := 0; ; try++ {
		err = b.commitTx(ctx, conn, tb)
		if err == nil || !isRetryable(err) || try == 4 {
			break
		}
	}
	if tb.upload != nil {
		<-tb.upload // the object, if any, is the collector's now
	}
	if err != nil {
		b.log.Error("commit a batch; answering its requests 503", "err", err, "appends", len(apps), "lines", len(lines))
	}
	if tb.told == nil {
		finishApps(apps, err)
	} else {
		for _, op := range apps {
			op.failed = err
			if op.err != nil {
				// A refusal waited for the batch (tell): if it failed,
				// the refusal may rest on appends never stored.
				if err != nil {
					op.res, op.err = store.Begun{}, err
				}
				close(op.ready)
			}
			close(op.done)
		}
	}
	finishLines(lines, err)
}

// finishApps ends appends that were never told an outcome.
func finishApps(apps []*appendOp, err error) {
	for _, op := range apps {
		op.err, op.failed = err, err
		close(op.ready)
		close(op.done)
	}
}

func finishLines(lines []*lineOp, err error) {
	for _, op := range lines {
		op.err = err
		close(op.done)
	}
}

// txBatch is one batch's transaction, as often as it is tried.
type txBatch struct {
	name    string
	apps    []*appendOp
	pos     []int64 // each append's position in the object
	lines   []*lineOp
	started time.Time
	// told is what the appends were told, once they were: a retried
	// transaction must come to the same, or fail.
	told   []result
	gather *lineGather
	// upload is the object's upload until its outcome is taken, then nil
	// and uploadErr.
	upload    chan error
	uploadErr error
}

// uploaded waits for the batch's object to be in the bucket. Meanwhile it
// keeps tx's session from idling every so often: PostgreSQL ends a session
// idle in a transaction after IdleTx, which is meant for a stopped
// receiver (it stops these too), not for an upload slower than that.
func (tb *txBatch) uploaded(ctx context.Context, tx pgx.Tx, every time.Duration) error {
	if tb.upload == nil {
		return tb.uploadErr
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case err := <-tb.upload:
			if err != nil {
				tb.uploadErr = fmt.Errorf("store the bytes in the bucket: %w", err)
			}
			tb.upload = nil
			return tb.uploadErr
		case <-t.C:
			if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
				return fmt.Errorf("keep the transaction open during the upload: %w", err)
			}
		}
	}
}

// commitTx runs the batch's transaction. The first try that gets through
// the appends tells each its outcome and takes in the index lines their
// requests hand over; the batch is acknowledged only if it returns nil.
func (b *Backend) commitTx(ctx context.Context, conn *pgxpool.Conn, tb *txBatch) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin a transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var gathered []*lineOp
	if len(tb.apps) > 0 {
		res, err := b.appendAll(ctx, tx, tb)
		if err != nil {
			return err
		}
		if tb.told == nil {
			tb.told = res
			tb.gather = tell(tb.apps, res)
			tb.gather.wait(ctx)
		} else if !slices.Equal(res, tb.told) {
			return errors.New("a retried transaction found the streams changed since its appends were answered: not committed")
		}
		gathered = tb.gather.seal()
		if err := tb.uploaded(ctx, tx, b.opt.IdleTx/3); err != nil {
			return err
		}
		// Live only if an extent points into it: an object whose appends
		// were all retries or refusals is left unrecorded, an orphan
		// Collect deletes, rather than kept for ever.
		var size int64
		kept := false
		for i, op := range tb.apps {
			size += int64(len(op.data))
			kept = kept || res[i].outcome == "appended"
		}
		if kept {
			// Fails if the collector took the object for an orphan first.
			if _, err := tx.Exec(ctx, `INSERT INTO objects (name, size, live) VALUES ($1, $2, true)`, tb.name, size); err != nil {
				return fmt.Errorf("record object %s: %w", tb.name, err)
			}
		}
	}
	if n := len(tb.lines) + len(gathered); n > 0 {
		ts := make([]time.Time, 0, n)
		text := make([]string, 0, n)
		for _, l := range slices.Concat(tb.lines, gathered) {
			ts, text = append(ts, l.ts), append(text, string(l.line))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO index_lines (ts, line) SELECT * FROM unnest($1::timestamptz[], $2::text[])`, ts, text); err != nil {
			return fmt.Errorf("insert index lines: %w", err)
		}
	}
	if time.Since(tb.started) > batchTimeout {
		return fmt.Errorf("the batch took %s, longer than %s: not committed", time.Since(tb.started).Round(time.Second), batchTimeout)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// tell gives each append its outcome, its transaction still open, and
// returns what gathers the index lines of those that succeeded. A refusal
// (a conflict, a quota) is told only once the batch ends, as its failure
// if it fails: it may rest on the batch's own appends (a stream's quota
// taken, its bytes compared), which are then not stored, and it is final
// to the host (a 409, a 429 until midnight) where a 503 is retried.
func tell(apps []*appendOp, res []result) *lineGather {
	g := &lineGather{all: make(chan struct{})}
	for i, op := range apps {
		op.res, op.err = res[i].begun(op)
		if op.err == nil && op.lined {
			op.batch = g
			g.want++
		}
	}
	if g.want == 0 {
		close(g.all)
	}
	for _, op := range apps {
		if op.err == nil {
			close(op.ready)
		}
	}
	return g
}

// appendAll runs cis490_append for every append, pipelined in one round
// trip, in the order of their streams (receivers lock rows in one order,
// which avoids most deadlocks); an append overlapping stored bytes is
// compared and its tail appended afterwards.
func (b *Backend) appendAll(ctx context.Context, tx pgx.Tx, tb *txBatch) ([]result, error) {
	name, apps, pos := tb.name, tb.apps, tb.pos
	order := make([]int, len(apps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return cmp.Or(cmp.Compare(apps[i].key.Host, apps[j].key.Host), cmp.Compare(apps[i].key.Stream, apps[j].key.Stream))
	})
	day := b.opt.Now().Unix() / 86400
	call := func(batch *pgx.Batch, i int, off int64, skip int64) {
		op := apps[i]
		streams, total, perDay := b.opt.HostStreams, b.opt.HostBytesTotal, b.opt.HostBytesPerDay
		if op.free {
			streams, total, perDay = 0, 0, 0
		}
		batch.Queue(`SELECT outcome, s_start, s_length, coalesce(used, 0), coalesce(lim, 0) FROM cis490_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			op.key.Host, op.key.Stream, off, int64(len(op.data))-skip, name, pos[i]+skip, op.at.UnixNano(), op.gen.ID, op.gen.Start,
			day, streams, total, perDay, int64(store.AppendCost))
	}
	var batch pgx.Batch
	for _, i := range order {
		call(&batch, i, apps[i].offset, 0)
	}
	results := make([]result, len(apps))
	if err := scanAll(ctx, tx, &batch, order, results); err != nil {
		return nil, err
	}
	for _, i := range order {
		r := &results[i]
		op := apps[i]
		// An append overlapping stored bytes is compared, and its tail
		// appended; another append of this batch may have grown the
		// stream meanwhile, so the tail may overlap again.
		var done int64 // bytes of op known stored
		for try := 0; r.outcome == "overlap"; try++ {
			if try == 8 {
				return nil, fmt.Errorf("append to %s: the stream kept growing under a retry", op.key)
			}
			at := op.offset + done
			overlap := min(r.length-at, int64(len(op.data))-done)
			// The stored bytes may be in this batch's own object.
			if err := tb.uploaded(ctx, tx, b.opt.IdleTx/3); err != nil {
				return nil, err
			}
			stored, err := b.readRange(ctx, tx, op.key, at, overlap)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(stored, op.data[done:done+overlap]) {
				r.outcome = "mismatch"
				break
			}
			done += overlap
			if done == int64(len(op.data)) { // every byte was there already
				r.outcome = "duplicate"
				break
			}
			var again pgx.Batch
			call(&again, i, r.length, done)
			one := []result{{}}
			if err := scanAll(ctx, tx, &again, []int{0}, one); err != nil {
				return nil, err
			}
			*r = one[0]
			if r.outcome == "appended" {
				r.appended = int64(len(op.data)) - done
			}
		}
	}
	return results, nil
}

// result is what cis490_append answered for one append.
type result struct {
	outcome       string
	start, length int64
	used, limit   int64
	appended      int64 // bytes added, when not all of the append's
}

func scanAll(ctx context.Context, tx pgx.Tx, batch *pgx.Batch, order []int, out []result) error {
	br := tx.SendBatch(ctx, batch)
	for _, i := range order {
		r := &out[i]
		if err := br.QueryRow().Scan(&r.outcome, &r.start, &r.length, &r.used, &r.limit); err != nil {
			br.Close()
			return fmt.Errorf("append: %w", err)
		}
	}
	return br.Close()
}

// begun turns an outcome into what store.Streams.Begin returns.
func (r result) begun(op *appendOp) (store.Begun, error) {
	switch r.outcome {
	case "appended":
		n := int64(len(op.data))
		if r.appended > 0 {
			n = r.appended
		}
		return store.Begun{Outcome: store.Appended, Length: r.length, Appended: n}, nil
	case "duplicate":
		return store.Begun{Outcome: store.Duplicate, Length: r.length}, nil
	case "gap":
		return store.Begun{Length: r.length}, &store.ConflictError{Reason: wire.ReasonGap, Length: r.length}
	case "mismatch":
		return store.Begun{Length: r.length}, &store.ConflictError{Reason: wire.ReasonMismatch, Length: r.length}
	case "before-start":
		return store.Begun{Length: r.length}, &store.ConflictError{Reason: wire.ReasonBeforeStart, Length: r.length, Start: r.start}
	case "streams":
		return store.Begun{Length: r.length}, store.StreamsQuota(op.key.Host, r.used, r.limit)
	case "total":
		return store.Begun{Length: r.length}, store.TotalQuota(op.key.Host, r.used, r.limit)
	case "day":
		return store.Begun{Length: r.length}, store.DayQuota(op.key.Host, r.used, r.limit)
	}
	return store.Begun{}, errors.New("append: unknown outcome " + r.outcome)
}

// Package pgs3 is the postgres+s3 storage backend: several receivers share
// one PostgreSQL database (the streams' offset ledger, the extents that say
// where every append's bytes are and when they came, the quotas and the
// index lines) and one S3-compatible bucket (the bytes, as immutable
// objects).
//
// Appends and index lines are committed in batches, as the local store
// group-commits its fsyncs: a committer takes every append waiting, PUTs
// their bytes as one create-only object, then runs one transaction that
// checks each append against its stream's row (locked, so receivers racing
// on one stream cannot both win), records the extents, and commits; the
// requests' index lines follow in a batch of their own (the receiver
// writes a line once it knows the outcome). A request is answered only
// after both commits: 201 means the bytes and the line are durable in
// both backends. An object whose
// transaction never committed (a receiver killed in between) is an orphan
// that Collect deletes; the objects table decides, first writer wins,
// whether an object is live or collected.
package pgs3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/store"
)

// Options configure a Backend. Zero values take the defaults.
type Options struct {
	Postgres string // a PostgreSQL connection string, password included
	S3       S3
	// Quotas, as in store.Options.
	HostBytesPerDay int64
	HostBytesTotal  int64
	HostStreams     int
	// BatchBytes ends a batch once its bytes reach it (default 8 MiB);
	// Committers is how many batches of appends may be in flight at once
	// (default 2). A batch starts beside another only once a full one
	// waits: a backlog. Otherwise a batch takes in what came while the
	// last one committed, as the local group commit does, and batches
	// stay large (measured in bench/README.md: half the objects and 15 %
	// more requests a second than two committers taking turns). The
	// index lines of other requests have a committer of their own.
	BatchBytes int64
	Committers int
	// BuildFilter, if set, makes the search filter of a block of a
	// stream (search.FilterOf); the maintainer then builds them.
	BuildFilter func(before, block, after []byte) []byte
	// IdleTx ends a session left idle inside a transaction (default 10 s).
	IdleTx time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

// Backend is the postgres+s3 backend of one receiver.
type Backend struct {
	opt  Options
	pool *pgxpool.Pool
	obj  *objects
	log  *slog.Logger

	mu        sync.Mutex
	appends   []*appendOp
	lines     []*lineOp
	wake      chan struct{} // appends are waiting
	wakeLines chan struct{} // lines are waiting
	closed    bool
	inflight  map[*batchTimes]struct{} // batches being committed
	// committing counts the batches of appends being committed;
	// queuedBytes the bytes of appends waiting for one.
	committing  int
	queuedBytes int64
	observe     func(groupsync.Round)

	// life ends when the backend closes: calls without a context of
	// their own (the small state's stores, the trust state) and the trust
	// caches' refreshes derive theirs from it.
	life     context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	watchers sync.WaitGroup // the trust caches' refreshers
	trust    trustParts
}

// Open connects to PostgreSQL and the bucket, brings the schema up to date
// and starts the committers.
func Open(ctx context.Context, opt Options) (*Backend, error) {
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = 8 << 20
	}
	if opt.Committers <= 0 {
		opt.Committers = 2
	}
	if opt.IdleTx <= 0 {
		opt.IdleTx = 10 * time.Second
	}
	if p := opt.S3.Prefix; p != "" && !strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("the S3 prefix %q must end in /: the collector deletes what is under it, and %q would take in %q too", p, p, p+"-other/")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	obj, err := newObjects(opt.S3)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(opt.Postgres)
	if err != nil {
		return nil, fmt.Errorf("the PostgreSQL connection string: %w", err)
	}
	// A receiver stopped (SIGSTOP, a VM paused) inside a transaction would
	// hold its rows' locks for ever: every append of those hosts, on every
	// receiver, would wait, and the readers' horizon would stand still.
	// PostgreSQL ends such a session after IdleTx.
	pcfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(opt.IdleTx.Milliseconds(), 10)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	b := &Backend{opt: opt, pool: pool, obj: obj, log: opt.Log, wake: make(chan struct{}, 1), wakeLines: make(chan struct{}, 1), inflight: map[*batchTimes]struct{}{}}
	cctx, stop := context.WithCancel(context.Background())
	b.life, b.stop = cctx, stop
	for range opt.Committers {
		b.wg.Go(func() { b.commitLoop(cctx, false) })
	}
	b.wg.Go(func() { b.commitLoop(cctx, true) })
	return b, nil
}

// Close fails what is still waiting, stops the committers and closes the
// connections. Requests already in a transaction finish first.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	signal(b.wake)
	signal(b.wakeLines)
	b.wg.Wait()
	b.stop()
	b.watchers.Wait()
	b.pool.Close()
	return nil
}

// Streams is the streams' view of the backend (store.Streams).
func (b *Backend) Streams() *Streams { return &Streams{b: b} }

// Lines is the index's view of the backend: the receiver writes through it
// and the detector reads through it (index.Source).
func (b *Backend) Lines() *Lines { return &Lines{b: b} }

var (
	_ store.Streams = (*Streams)(nil)
	_ index.Source  = (*Lines)(nil)
)

// signal wakes one committer waiting on wake, if none is awake already.
func signal(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// objectName makes a new object's key: time-ordered, so a listing from a
// point on sees only newer objects, and random, so receivers never collide.
func objectName(now time.Time) string {
	var r [12]byte
	rand.Read(r[:])
	return "b/" + now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r[:])
}

// errClosed fails a request the backend no longer takes.
var errClosed = fmt.Errorf("the postgres+s3 backend is closed: %w", store.ErrClosed)

// isRetryable is a transaction PostgreSQL aborted to resolve a conflict
// (a deadlock between receivers locking streams, a serialization failure):
// running it again is the fix.
func isRetryable(err error) bool {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		switch pe.SQLState() {
		case "40001", "40P01":
			return true
		}
	}
	return false
}

// Observe has f called after every committed batch, as groupsync.Group's
// Observe does for the local store (the metrics' commit rounds).
func (b *Backend) Observe(f func(groupsync.Round)) {
	b.mu.Lock()
	b.observe = f
	b.mu.Unlock()
}

// Pending is how long the oldest request not yet committed has waited.
func (b *Backend) Pending(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var oldest time.Time
	older := func(t time.Time) {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if len(b.appends) > 0 {
		older(b.appends[0].queued)
	}
	if len(b.lines) > 0 {
		older(b.lines[0].queued)
	}
	for bt := range b.inflight {
		older(bt.oldest)
	}
	if oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(oldest))
}

// Ready reports whether both PostgreSQL and the bucket answer.
func (b *Backend) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.pool.Ping(ctx); err != nil {
		return fmt.Errorf("PostgreSQL does not answer: %w", err)
	}
	if err := b.obj.ping(ctx); err != nil {
		return fmt.Errorf("the S3 bucket does not answer: %w", err)
	}
	return nil
}

package pgs3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/fleethealth"
)

// The detector's lease defaults. A run takes seconds, so a minute's lease
// renewed every 15 s survives three missed renewals (a slow database, a
// GC pause) yet frees the detector within a minute of a run killed or
// stopped; the timer comes every 5 min. A waiter waits longer than one
// lease, so a holder that died is always taken over rather than skipped,
// and well within the unit's TimeoutStartSec (4 min).
const (
	DefaultLease = time.Minute
	DefaultWait  = DefaultLease + 15*time.Second
)

// detectorLease is the detector's row in the leases table.
const detectorLease = "fleet-health"

// stuckTx is how long PostgreSQL lets a fenced write's transaction sit
// idle before it ends the session: a run stopped (SIGSTOP) inside one
// would otherwise keep its lock on the lease row, and with it every
// take-over, for as long as it stays stopped.
const stuckTx = "10s"

// leaseRow is a lease as the table holds it, to explain a refusal.
func (b *Backend) leaseRow(name string) (holder string, fence int64, expires time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err = b.pool.QueryRow(ctx, `SELECT holder, fence, expires FROM leases WHERE name = $1`, name).Scan(&holder, &fence, &expires)
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("read the %s lease: %w", name, err)
	}
	return holder, fence, expires, nil
}

// renew extends l; false when it was lost (expired, or taken over): a
// lease never comes back to a run that let it lapse.
func (l *lease) renew(ctx context.Context, d time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	tag, err := l.b.pool.Exec(ctx, `UPDATE leases SET expires = clock_timestamp() + $3::interval
		WHERE name = $1 AND fence = $2 AND expires > clock_timestamp()`, l.name, l.fence, d.String())
	if err != nil {
		return false, fmt.Errorf("renew the %s lease: %w", l.name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Lock takes the detector's lease, waiting up to the Wait option for
// another run to finish; then it gives up with an error wrapping
// fleethealth.ErrBusy. While held, a goroutine renews it; unlock stops
// that and releases it.
func (d *Detector) Lock() (func(), error) {
	deadline := time.Now().Add(d.opt.Wait)
	poll := min(time.Second, d.opt.Wait/10+time.Millisecond)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		l, ok, err := d.b.acquireAs(ctx, detectorLease, d.opt.Holder, d.opt.Lease)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("take the detector's lease in PostgreSQL: %w", err)
		}
		if ok {
			return d.hold(l), nil
		}
		if !time.Now().Add(poll).Before(deadline) {
			holder, _, expires, err := d.b.leaseRow(detectorLease)
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s holds its lease in PostgreSQL until %s (waited %s)",
				fleethealth.ErrBusy, holder, expires.UTC().Format(time.RFC3339), d.opt.Wait)
		}
		time.Sleep(poll)
	}
}

// hold records l as this store's and renews it until unlock.
func (d *Detector) hold(l *lease) func() {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.mu.Lock()
	d.held = l
	d.mu.Unlock()
	go func() {
		defer close(done)
		d.renewLoop(ctx, l)
	}()
	return func() {
		stop()
		<-done
		d.mu.Lock()
		d.held = nil
		d.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		l.release(rctx) // if it fails, the lease expires on its own
	}
}

// renewLoop renews l every Renew until ctx ends or l is lost.
func (d *Detector) renewLoop(ctx context.Context, l *lease) {
	t := time.NewTicker(d.opt.Renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := l.renew(ctx, d.opt.Lease)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d.b.log.Warn("could not renew the detector's lease; trying again", "err", err)
		case !ok:
			d.b.log.Error("the detector's lease lapsed (this run was stopped or too slow): its writes will be refused", "fence", l.fence)
			return
		}
	}
}

// fenced runs write in a transaction that first checks, holding the lease
// row, that the lease is still this run's and unexpired (lease.inTx). A
// run that took over must update that row, so it waits for this
// transaction: no write of an old holder can land after a new holder
// began.
func (d *Detector) fenced(what string, write func(ctx context.Context, tx pgx.Tx) error) error {
	d.mu.Lock()
	l := d.held
	d.mu.Unlock()
	if l == nil {
		return fmt.Errorf("%s: %w (Lock was not taken)", what, errLeaseLost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := l.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL idle_in_transaction_session_timeout = '`+stuckTx+`'`); err != nil {
			return err
		}
		return write(ctx, tx)
	})
	if errors.Is(err, errLeaseLost) {
		return fmt.Errorf("%s: refused: %w", what, d.lost(l))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// lost explains why l no longer holds: who took it over, or when it
// expired.
func (d *Detector) lost(l *lease) error {
	holder, fence, expires, err := d.b.leaseRow(l.name)
	switch {
	case err != nil:
		return fmt.Errorf("%w (fence %d; %v)", errLeaseLost, l.fence, err)
	case fence != l.fence:
		return fmt.Errorf("%w: %s took it over (fence %d, this run's was %d) and carries on", errLeaseLost, holder, fence, l.fence)
	default:
		return fmt.Errorf("%w: it expired at %s (was this run stopped or stalled?)", errLeaseLost, expires.UTC().Format(time.RFC3339))
	}
}

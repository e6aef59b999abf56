package pgs3

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// TakeMaintenance takes the maintenance lease for d, as Maintain does, and
// returns a fenced write: the external tests play a maintainer that stalls.
func (b *Backend) TakeMaintenance(ctx context.Context, d time.Duration) (write func(context.Context) error, ok bool, err error) {
	l, ok, err := b.acquire(ctx, maintainLease, d)
	if !ok || err != nil {
		return nil, ok, err
	}
	return func(ctx context.Context) error {
		return l.inTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM index_lines WHERE false`)
			return err
		})
	}, true, nil
}

// ErrLeaseLost is errLeaseLost, for the external tests.
var ErrLeaseLost = errLeaseLost

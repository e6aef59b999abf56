package pgs3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/dashboard"
)

// Sessions is the dashboard's logins in PostgreSQL, so that a receiver
// restarting or replaced keeps them. Save replaces the whole set, as the
// interface asks: receivers sharing the database each save their own.
func (b *Backend) Sessions() dashboard.Sessions { return sessions{b} }

type sessions struct{ b *Backend }

var _ dashboard.Sessions = sessions{}

func (s sessions) Load() ([]dashboard.StoredSession, error) {
	ctx, cancel := s.b.call()
	defer cancel()
	rows, err := s.b.pool.Query(ctx, `SELECT cookie_sha256, admin, token_sha256, expires FROM dashboard_sessions`)
	if err != nil {
		return nil, fmt.Errorf("read the dashboard's sessions from PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dashboard.StoredSession, error) {
		var ss dashboard.StoredSession
		var expires int64
		err := r.Scan(&ss.CookieSHA256, &ss.Admin, &ss.TokenSHA256, &expires)
		ss.Expires = time.Unix(0, expires).UTC()
		return ss, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the dashboard's sessions from PostgreSQL: %w", err)
	}
	return out, nil
}

// Save replaces the rows in one transaction: a reader sees the old set or
// the new. When it fails it deletes them all, as the file store removes
// its file, so a logged-out session cannot come back.
func (s sessions) Save(list []dashboard.StoredSession) error {
	ctx, cancel := s.b.call()
	defer cancel()
	err := s.replace(ctx, list)
	if err == nil {
		return nil
	}
	// A context of its own: the failure may have been the first's timeout.
	dctx, dcancel := s.b.call()
	defer dcancel()
	if _, derr := s.b.pool.Exec(dctx, `DELETE FROM dashboard_sessions`); derr != nil {
		err = errors.Join(err, fmt.Errorf("delete the stored sessions: %w", derr))
	}
	return fmt.Errorf("save the dashboard's sessions in PostgreSQL: %w", err)
}

func (s sessions) replace(ctx context.Context, list []dashboard.StoredSession) error {
	// A cookie twice in the list is kept once, the last, as a JSON file's
	// Load would have it win.
	last := map[string]int{}
	for i, ss := range list {
		last[ss.CookieSHA256] = i
	}
	var cookie, admin, token []string
	var expires []int64
	for i, ss := range list {
		if last[ss.CookieSHA256] == i {
			cookie, admin, token = append(cookie, ss.CookieSHA256), append(admin, ss.Admin), append(token, ss.TokenSHA256)
			expires = append(expires, ss.Expires.UnixNano())
		}
	}
	tx, err := s.b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO dashboard_sessions (cookie_sha256, admin, token_sha256, expires)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])`,
		cookie, admin, token, expires); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

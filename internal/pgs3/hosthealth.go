package pgs3

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/names"
)

// HostHealth is the hosts' doctor snapshots in PostgreSQL, one row per
// host, so that any receiver answers for any host.
func (b *Backend) HostHealth() hosthealth.Store { return hostHealth{b} }

type hostHealth struct{ b *Backend }

var _ hosthealth.Store = hostHealth{}

// Write replaces host's row in one statement: a reader sees the old
// snapshot or the new. A snapshot over hosthealth.MaxSize is refused (the
// receiver refuses it first), so no host can fill the shared database.
func (h hostHealth) Write(host string, data []byte, at time.Time) error {
	if _, err := names.Host(host); err != nil {
		return err
	}
	if len(data) > hosthealth.MaxSize {
		return fmt.Errorf("store %s's doctor snapshot: %d bytes, at most %d are kept", host, len(data), hosthealth.MaxSize)
	}
	ctx, cancel := h.b.call()
	defer cancel()
	_, err := h.b.pool.Exec(ctx, `INSERT INTO host_health (host, received, snapshot) VALUES ($1, $2, $3)
		ON CONFLICT (host) DO UPDATE SET received = excluded.received, snapshot = excluded.snapshot`,
		host, at.UnixNano(), data)
	if err != nil {
		return fmt.Errorf("store %s's doctor snapshot in PostgreSQL: %w", host, err)
	}
	return nil
}

// Read reads one host's snapshot, at most hosthealth.MaxSize+1 bytes of
// it as Folder does; an invalid host name reads as a missing snapshot.
func (h hostHealth) Read(host string) (*hosthealth.Snapshot, error) {
	if _, err := names.Host(host); err != nil {
		return nil, fs.ErrNotExist
	}
	ctx, cancel := h.b.call()
	defer cancel()
	var received int64
	var data []byte
	err := h.b.pool.QueryRow(ctx, `SELECT received, substring(snapshot FROM 1 FOR $2) FROM host_health WHERE host = $1`,
		host, hosthealth.MaxSize+1).Scan(&received, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no doctor snapshot of %s: %w", host, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s's doctor snapshot from PostgreSQL: %w", host, err)
	}
	return &hosthealth.Snapshot{Host: host, ReceivedAt: time.Unix(0, received).UTC(), Snapshot: json.RawMessage(data)}, nil
}

// List names the stored snapshots by host, in byte order as Folder sorts
// them (COLLATE "C": the database's collation may sort otherwise).
func (h hostHealth) List() ([]hosthealth.Entry, error) {
	ctx, cancel := h.b.call()
	defer cancel()
	rows, err := h.b.pool.Query(ctx, `SELECT host, received FROM host_health ORDER BY host COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list the doctor snapshots in PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hosthealth.Entry, error) {
		var e hosthealth.Entry
		var received int64
		err := r.Scan(&e.Host, &received)
		e.ReceivedAt = time.Unix(0, received).UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the doctor snapshots in PostgreSQL: %w", err)
	}
	if len(out) == 0 {
		return nil, nil // none, as of an empty folder
	}
	return out, nil
}

// ReadAll reads every host's snapshot, by host, in one query.
func (h hostHealth) ReadAll() ([]hosthealth.Snapshot, error) {
	ctx, cancel := h.b.call()
	defer cancel()
	rows, err := h.b.pool.Query(ctx, `SELECT host, received, substring(snapshot FROM 1 FOR $1) FROM host_health ORDER BY host COLLATE "C"`,
		hosthealth.MaxSize+1)
	if err != nil {
		return nil, fmt.Errorf("read the doctor snapshots from PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hosthealth.Snapshot, error) {
		var s hosthealth.Snapshot
		var received int64
		var data []byte
		err := r.Scan(&s.Host, &received, &data)
		s.ReceivedAt, s.Snapshot = time.Unix(0, received).UTC(), json.RawMessage(data)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the doctor snapshots from PostgreSQL: %w", err)
	}
	if out == nil {
		out = []hosthealth.Snapshot{} // none is an empty list, as Folder's
	}
	return out, nil
}

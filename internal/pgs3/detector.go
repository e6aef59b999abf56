package pgs3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/fleethealth"
)

// DetectorOptions tune the detector's lease (tests shorten it). Zero
// values take the defaults.
type DetectorOptions struct {
	Lease time.Duration // how long a run holds the lease unrenewed (DefaultLease)
	Renew time.Duration // how often a holder renews it (a quarter of Lease)
	Wait  time.Duration // how long Lock waits for another run (DefaultWait)
	// Holder names this run in the lease, for the busy message
	// (default: host name and process id).
	Holder string
}

// Detector is fleethealth.Store in the shared database, so the detector
// may run on any of the receivers (one at a time: Lock is a fenced lease)
// and every receiver's fleet view reads the same state and alerts.
type Detector struct {
	b   *Backend
	opt DetectorOptions

	mu   sync.Mutex
	held *lease // the lease this store holds; nil when none
}

var _ fleethealth.Store = (*Detector)(nil)

// Detector is the fleet-health detector's store, with the default lease.
func (b *Backend) Detector() fleethealth.Store { return b.DetectorWith(DetectorOptions{}) }

// DetectorWith is Detector with its lease tuned.
func (b *Backend) DetectorWith(opt DetectorOptions) *Detector {
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Renew <= 0 {
		opt.Renew = opt.Lease / 4
	}
	if opt.Wait <= 0 {
		opt.Wait = DefaultWait
	}
	if opt.Holder == "" {
		host, _ := os.Hostname()
		opt.Holder = fmt.Sprintf("fleet-health on %s (pid %d)", host, os.Getpid())
	}
	return &Detector{b: b, opt: opt}
}

// The blobs' names.
const (
	blobState    = "state"
	blobSilences = "silences"
)

func (d *Detector) load(name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var b []byte
	err := d.b.pool.QueryRow(ctx, `SELECT data FROM detector_blobs WHERE name = $1`, name).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the detector's %s from PostgreSQL: %w", name, err)
	}
	if b == nil {
		b = []byte{} // saved empty: not "never saved"
	}
	return b, nil
}

func (d *Detector) save(name string, b []byte) error {
	return d.fenced("save the detector's "+name+" in PostgreSQL", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO detector_blobs (name, data, updated) VALUES ($1, $2, now())
			ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated = EXCLUDED.updated`, name, b)
		return err
	})
}

// LoadState returns the saved state; nil when none was saved.
func (d *Detector) LoadState() ([]byte, error) { return d.load(blobState) }

// SaveState replaces the state, if this run still holds the lease.
func (d *Detector) SaveState(b []byte) error { return d.save(blobState, b) }

// LoadSilences returns the saved silences; nil when none were saved.
func (d *Detector) LoadSilences() ([]byte, error) { return d.load(blobSilences) }

// SaveSilences replaces the silences, if the lease is still held.
func (d *Detector) SaveSilences(b []byte) error { return d.save(blobSilences, b) }

// SetAside renames an unreadable state out of the way, kept for a
// post-mortem, and says where it went.
func (d *Detector) SetAside() (string, error) {
	aside := blobState + ".corrupt." + time.Now().UTC().Format("20060102T150405.000000000Z")
	err := d.fenced("set the detector's unreadable state aside in PostgreSQL", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE detector_blobs SET name = $2 WHERE name = $1`, blobState, aside)
		return err
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("PostgreSQL table detector_blobs, name %q", aside), nil
}

// AppendAlerts adds the alert lines in one transaction, if the lease is
// still held: all or none.
func (d *Detector) AppendAlerts(alerts []fleethealth.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	ts := make([]time.Time, len(alerts))
	lines := make([]string, len(alerts))
	for i, a := range alerts {
		b, err := a.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode an alert of %s: %w", a.Host, err)
		}
		ts[i], lines[i] = a.TS, string(b)
	}
	return d.fenced("append the alerts in PostgreSQL", func(ctx context.Context, tx pgx.Tx) error {
		// WITH ORDINALITY keeps the run's order in the sequence.
		_, err := tx.Exec(ctx, `INSERT INTO detector_alerts (ts, line)
			SELECT ts, line FROM unnest($1::timestamptz[], $2::text[]) WITH ORDINALITY AS u(ts, line, n) ORDER BY n`, ts, lines)
		return err
	})
}

// alertPage is how many alert lines one query reads.
const alertPage = 1000

// maxAlertScan bounds how far back ReadAlerts looks, as the file's last
// 8 MiB does: the dashboard asks per request, and the alerts only grow.
const maxAlertScan = 20000

// ReadAlerts returns the latest alerts keep keeps, newest first, at most
// limit, from the latest maxAlertScan.
func (d *Detector) ReadAlerts(keep func(fleethealth.Alert) bool, limit int) ([]fleethealth.Alert, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var out []fleethealth.Alert
	before := int64(-1) // -1: from the newest
	for scanned := 0; scanned < maxAlertScan && len(out) < limit; {
		rows, err := d.b.pool.Query(ctx, `SELECT seq, line FROM detector_alerts
			WHERE $1 < 0 OR seq < $1 ORDER BY seq DESC LIMIT $2`, before, alertPage)
		if err != nil {
			return nil, fmt.Errorf("read the alerts from PostgreSQL: %w", err)
		}
		n := 0
		for rows.Next() {
			var line []byte
			if err := rows.Scan(&before, &line); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read the alerts from PostgreSQL: %w", err)
			}
			n++
			var a fleethealth.Alert
			if a.UnmarshalJSON(line) != nil || !keep(a) || len(out) >= limit {
				continue
			}
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the alerts from PostgreSQL: %w", err)
		}
		if n < alertPage {
			break
		}
		scanned += n
	}
	return out, nil
}

// AlertsSince hands fn the alerts appended after cp, oldest first. As
// Lines.Read does, it reads only alerts whose transaction is below the
// snapshot horizon, in (transaction, seq) order: sequence numbers commit
// out of order, and "seq > last" would skip one committed late.
func (d *Detector) AlertsSince(ctx context.Context, cp fleethealth.AlertCheckpoint, since time.Time, fn func(fleethealth.Alert) error) (fleethealth.AlertCheckpoint, error) {
	asked := since
	fresh := cp.XID == 0 // a file's checkpoint (Offset) starts afresh too
	if fresh {
		cp = fleethealth.AlertCheckpoint{}
	} else {
		since = time.Time{}
	}
	h, horizon, err := d.b.horizon(ctx)
	if err != nil {
		return cp, err
	}
	if cp.XID > horizon { // restored or failed over: see Lines.Read
		d.b.log.Warn("the alerts checkpoint is ahead of the database (restored, or failed over?): reading afresh",
			"checkpoint_xid", cp.XID, "horizon", horizon)
		cp, since = fleethealth.AlertCheckpoint{}, asked
	}
	for {
		rows, err := d.b.pool.Query(ctx, `SELECT xid::text, seq, line FROM detector_alerts
			WHERE xid < $1::text::xid8 AND (xid, seq) > ($2::text::xid8, $3) AND ts >= $4
			ORDER BY detector_alerts.xid, detector_alerts.seq LIMIT $5`, h, strconv.FormatUint(cp.XID, 10), int64(cp.Seq), since, alertPage)
		if err != nil {
			return cp, fmt.Errorf("read the alerts from PostgreSQL: %w", err)
		}
		var batch []alertRow
		for rows.Next() {
			var r alertRow
			if err := rows.Scan(&r.xid, &r.seq, &r.line); err != nil {
				rows.Close()
				return cp, fmt.Errorf("read the alerts from PostgreSQL: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return cp, fmt.Errorf("read the alerts from PostgreSQL: %w", err)
		}
		// fn runs with no query open: it may be slow (a reader's pipe).
		for _, r := range batch {
			xid, err := strconv.ParseUint(r.xid, 10, 64)
			if err != nil {
				return cp, fmt.Errorf("read the alerts from PostgreSQL: transaction id %q: %w", r.xid, err)
			}
			var a fleethealth.Alert
			if a.UnmarshalJSON(r.line) == nil {
				if err := fn(a); err != nil {
					return cp, err
				}
			}
			cp.XID, cp.Seq = xid, uint64(r.seq)
		}
		if len(batch) < alertPage {
			break
		}
	}
	// Every alert below the horizon has been read. A fresh read that found
	// none stays fresh, as the file's does: since still applies next time.
	if cp.XID < horizon && !(fresh && cp.XID == 0) {
		cp.XID, cp.Seq = horizon, 0
	}
	return cp, nil
}

type alertRow struct {
	xid  string
	seq  int64
	line []byte
}

// horizon is the snapshot horizon: every transaction below it has ended,
// so no row stamped with one can still appear. As text, for queries, and
// as a number, for checkpoints.
func (b *Backend) horizon(ctx context.Context) (string, uint64, error) {
	var h string
	if err := b.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&h); err != nil {
		return "", 0, fmt.Errorf("read PostgreSQL's snapshot horizon: %w", err)
	}
	n, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("read PostgreSQL's snapshot horizon %q: %w", h, err)
	}
	return h, n, nil
}

package pgs3_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pgs3"
)

// TestLinesReadInTransactionOrder: lines are read in the order of their
// transaction ids as numbers, so a checkpoint taken after xid 9 does not
// come before xid 10 (read as text, "10" < "9": the next read saw 10 and
// 11 again, and past a page lines were skipped).
func TestLinesReadInTransactionOrder(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	// Transaction ids as a long-lived cluster has them; every one is far
	// below the horizon of a cluster initdb has run on.
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	insertAtXIDs(t, dsn, "index_lines", ts, func(host string) ([]byte, error) {
		return index.Line{TS: ts, Host: host, Method: "PUT", Endpoint: "logs", Status: 201}.MarshalJSON()
	})
	var hosts []string
	cp, _, err := b.Lines().Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) { hosts = append(hosts, l.Host) })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(hosts) != "[lab-9 lab-10 lab-11]" {
		t.Fatalf("read %v; want the lines in transaction order [lab-9 lab-10 lab-11]", hosts)
	}
	hosts = nil
	if _, _, err := b.Lines().Read(t.Context(), cp, time.Time{}, time.Time{}, func(l *index.Line) { hosts = append(hosts, l.Host) }); err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 0 {
		t.Fatalf("a read from the checkpoint %+v read %v again", cp, hosts)
	}
}

// TestAlertsReadInTransactionOrder is the same for the detector's alerts.
func TestAlertsReadInTransactionOrder(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	insertAtXIDs(t, dsn, "detector_alerts", ts, func(host string) ([]byte, error) {
		return json.Marshal(fleethealth.Alert{TS: ts, Host: host, Symptom: "silent", Bucket: "2026-01-02T03"})
	})
	var hosts []string
	read := func(cp fleethealth.AlertCheckpoint) fleethealth.AlertCheckpoint {
		t.Helper()
		cp, err := b.Detector().AlertsSince(t.Context(), cp, time.Time{}, func(a fleethealth.Alert) error { hosts = append(hosts, a.Host); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	cp := read(fleethealth.AlertCheckpoint{})
	if fmt.Sprint(hosts) != "[lab-9 lab-10 lab-11]" {
		t.Fatalf("read %v; want the alerts in transaction order [lab-9 lab-10 lab-11]", hosts)
	}
	hosts = nil
	if read(cp); len(hosts) != 0 {
		t.Fatalf("a read from the checkpoint %+v read %v again", cp, hosts)
	}
}

// TestLinesCheckpointAheadOfDatabase: a checkpoint from before a restore
// or a failover (ahead of the database's transaction ids) is not trusted:
// the reader starts afresh from since instead of skipping every line
// written until the ids catch up.
func TestLinesCheckpointAheadOfDatabase(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d, err := b.Lines().Begin(index.Line{TS: ts, Host: "lab-1", Method: "PUT", Endpoint: "logs", Status: 201})
	if err != nil {
		t.Fatal(err)
	}
	if err := d(t.Context()); err != nil {
		t.Fatal(err)
	}
	var hosts []string
	cp, _, err := b.Lines().Read(t.Context(), index.Checkpoint{XID: 1 << 40, Seq: 7}, ts.Add(-time.Hour), time.Time{}, func(l *index.Line) { hosts = append(hosts, l.Host) })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(hosts) != "[lab-1]" || cp.XID >= 1<<40 {
		t.Fatalf("read %v, checkpoint %+v from a checkpoint ahead of the database; want the line, and a checkpoint of this database", hosts, cp)
	}
}

// TestAlertsCheckpointAheadOfDatabase is the same for the alerts.
func TestAlertsCheckpointAheadOfDatabase(t *testing.T) {
	dsn, s3 := servers(t)
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	line, _ := json.Marshal(fleethealth.Alert{Host: "lab-1", Symptom: "silent", Bucket: "2026-01-02T03"})
	if _, err := conn.Exec(t.Context(), `INSERT INTO detector_alerts (ts, line) VALUES ($1, $2)`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), string(line)); err != nil {
		t.Fatal(err)
	}
	var hosts []string
	cp, err := b.Detector().AlertsSince(t.Context(), fleethealth.AlertCheckpoint{XID: 1 << 40, Seq: 3}, time.Time{}, func(a fleethealth.Alert) error { hosts = append(hosts, a.Host); return nil })
	if err != nil || fmt.Sprint(hosts) != "[lab-1]" || cp.XID >= 1<<40 {
		t.Fatalf("read %v, checkpoint %+v, %v from a checkpoint ahead of the database; want the alert", hosts, cp, err)
	}
}

// insertAtXIDs writes one row into table (index_lines or detector_alerts)
// for each of the transaction ids 9, 10 and 11, made by line for host
// lab-<xid>: ids whose text order is not their order.
func insertAtXIDs(t *testing.T, dsn, table string, ts time.Time, line func(host string) ([]byte, error)) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, xid := range []int{9, 10, 11} {
		text, err := line(fmt.Sprintf("lab-%d", xid))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO `+table+` (xid, ts, line) VALUES ($1::text::xid8, $2, $3)`, fmt.Sprint(xid), ts, string(text)); err != nil {
			t.Fatal(err)
		}
	}
}

// Package index writes and reads the request index: one JSON line per /v1/
// request, whatever its outcome, in <data>/index/YYYY-MM-DD.jsonl (UTC day).
// A line is made durable by the same group commit as the request's data, so
// an index that cannot keep up slows ingest rather than losing lines.
//
// Reading goes through Source: the lines written since a Checkpoint,
// which survives rotation, pruning and a receiver crash that cuts and
// rewrites lines. Dir is the Source over the day files; the detector, the
// fleet view and the tools read the index only through it.
package index

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// Line is one request. The first keys are the contract (SPEC "The index");
// later ones are extras that readers may ignore.
type Line struct {
	TS       time.Time `json:"-"`
	Host     string    `json:"host"`
	Auth     bool      `json:"auth"`
	CertHost string    `json:"cert_host"`
	Method   string    `json:"method"`
	Endpoint string    `json:"endpoint"`
	Status   int       `json:"status"`
	Bytes    int64     `json:"bytes"`
	Commit   string    `json:"commit"`
	Instance string    `json:"instance"`
	Reason   string    `json:"reason"`
	Remote   string    `json:"remote"`
	DurMS    float64   `json:"dur_ms"`
	Stream   string    `json:"stream,omitempty"`
	State    string    `json:"state,omitempty"` // heartbeat: up, shutdown, sleep
	Admin    string    `json:"admin,omitempty"` // the admin who made the request
	Gate     string    `json:"gate,omitempty"`  // unstamped, unknown-commit, stale
	// CertExpires is when the fleet-signed client certificate the request
	// carried expires (RFC 3339), so the fleet view can show it.
	CertExpires string `json:"cert_expires,omitempty"`
	// Count is how many requests the line stands for when it is more than
	// one: the folded refusals of a caller without a fleet certificate, for
	// one reason in one minute (README, "The index").
	Count int `json:"count,omitempty"`
	// Quota, QuotaUsed and QuotaLimit are set on a 429 for a quota: which
	// one ("day", "total" or "streams"), what the host had used of it
	// (bytes, or streams) and the limit, so the detector can say how far
	// over it is without reading the receiver's configuration.
	Quota      string `json:"quota,omitempty"`
	QuotaUsed  int64  `json:"quota_used,omitempty"`
	QuotaLimit int64  `json:"quota_limit,omitempty"`
	// Lost, LostEntries and LostCause are what the shipper said it lost
	// for good before this PUT (X-Cis490-Lost): at least that many bytes
	// (or journal entries) of the stream, at the PUT's offset, and why.
	Lost        int64  `json:"lost,omitempty"`
	LostEntries int64  `json:"lost_entries,omitempty"`
	LostCause   string `json:"lost_cause,omitempty"`
	Seq         uint64 `json:"seq,omitempty"` // the line's number, for recovery
	// Pattern, SearchMode and Window are a fleet-wide search's (endpoint
	// search): what it looked for, how (words, substring or regex, "+i"
	// ignoring case) and over when (RFC 3339 since/until, either end
	// empty when open); Bytes is then what it scanned.
	Pattern    string `json:"pattern,omitempty"`
	SearchMode string `json:"search_mode,omitempty"`
	Window     string `json:"window,omitempty"`
}

// TimeFormat is the ts format: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

type wire struct {
	TS string `json:"ts"`
	lineAlias
}

type lineAlias Line

// MarshalJSON writes ts first, in TimeFormat.
func (l Line) MarshalJSON() ([]byte, error) { return appendLine(nil, &l), nil }

// UnmarshalJSON reads a line written by MarshalJSON.
func (l *Line) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	ts, err := time.Parse(time.RFC3339Nano, w.TS)
	if err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	*l = Line(w.lineAlias)
	l.TS = ts
	return nil
}

// FileName is the index file for the UTC day of t.
func FileName(t time.Time) string { return t.UTC().Format("2006-01-02") + ".jsonl" }

// Files lists the index files in dir, oldest first.
func Files(fsys vfs.FS, dir string) ([]string, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if len(n) == len("2006-01-02.jsonl") && strings.HasSuffix(n, ".jsonl") {
			if _, err := time.Parse("2006-01-02", strings.TrimSuffix(n, ".jsonl")); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

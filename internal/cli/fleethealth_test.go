package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// fleetData writes a receiver config and an index where lab-1 went silent
// at 09:00 and lab-2 is shipping fine.
func fleetData(t *testing.T) (cfg, data string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "index"), 0o755)
	cfg = filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte("data_dir = \"data\"\n[fleet_health]\nsyslog = \"off\"\n"), 0o644)
	var b []byte
	start := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for i := range 120 {
		ts := start.Add(time.Duration(i) * time.Minute)
		for _, h := range []string{"lab-1", "lab-2"} {
			if h == "lab-1" && i > 60 {
				continue
			}
			l, _ := index.Line{TS: ts, Host: h, Auth: true, CertHost: h, Method: "PUT", Endpoint: "logs", Status: 201,
				Commit: strings.Repeat("a", 40), Seq: uint64(2*i + 1)}.MarshalJSON()
			b = append(append(b, l...), '\n')
		}
	}
	os.WriteFile(filepath.Join(data, "index", "2026-11-26.jsonl"), b, 0o644)
	return cfg, data
}

// TestFleetHealthExitStatus: finding a sick host is the detector doing
// its job (exit 0); an index it cannot read is not (exit 1).
func TestFleetHealthExitStatus(t *testing.T) {
	cfg, data := fleetData(t)
	for _, now := range []string{"2026-11-26T09:55:00Z", "2026-11-26T10:00:00Z"} {
		code, _, errs := run(t, "fleet-health", "--config", cfg, "--now", now)
		if code != 0 {
			t.Fatalf("run as of %s: exit %d: %s", now, code, errs)
		}
	}
	alerts, _ := os.ReadFile(filepath.Join(data, "alerts.jsonl"))
	if want := `{"ts":"2026-11-26T10:00:00.000Z","host":"lab-1","symptom":"silent","detail":"quiet for 1h, last seen 2026-11-26T09:00:00Z; its last request, at 09:00Z, was a log PUT answered 201: check its power and network, then run ` + "`cis490 doctor`" + ` on it and read ` + "`journalctl -u cis490-shipper`" + ` there","bucket":"2026-11-26T10"}`; strings.TrimSpace(string(alerts)) != want {
		t.Fatalf("alerts.jsonl:\n%s\nwant\n%s", alerts, want)
	}
	os.Rename(filepath.Join(data, "index"), filepath.Join(data, "index.moved"))
	code, _, errs := run(t, "fleet-health", "--config", cfg, "--now", "2026-11-26T10:05:00Z")
	if code != 1 || !strings.Contains(errs, "read the index folder") {
		t.Fatalf("without an index: exit %d, %q; want 1 and why", code, errs)
	}
}

// TestFleetHealthDryRun prints the table and writes nothing.
func TestFleetHealthDryRun(t *testing.T) {
	cfg, data := fleetData(t)
	code, out, errs := run(t, "fleet-health", "--config", cfg, "--now", "2026-11-26T10:00:00Z", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "lab-1  silent   pending 1/2 runs  quiet for 1h,") {
		t.Fatalf("dry run table:\n%s", out)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("a dry run wrote %v", names)
	}
	code, _, errs = run(t, "fleet-health", "--config", cfg, "--now", "yesterday")
	if code != 2 || !strings.Contains(errs, `--now "yesterday" is not an RFC 3339 instant`) {
		t.Fatalf("bad --now: exit %d %q", code, errs)
	}
}

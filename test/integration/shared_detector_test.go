package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pgs3"
)

// TestSharedDetector runs the real `cis490 fleet-health` on postgres+s3:
// index lines written to the shared index, where lab-1 went silent at
// 09:00, give one silent alert, in the shared database, once however
// often it runs, and `cis490 index` shows it among the requests. A replay
// into --state keeps its state and alerts in that folder, leaving the
// database's alone; silences live in the database too.
func TestSharedDetector(t *testing.T) {
	dir := t.TempDir()
	section, opt, _ := sharedStorage(t, dir)
	cfg := filepath.Join(dir, "receiver.toml")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("data_dir = \"data\"\n[fleet_health]\nsyslog = \"off\"\n"+section), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := pgs3.Open(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for i := range 120 {
		for _, h := range []string{"lab-1", "lab-2"} {
			if h == "lab-1" && i > 60 {
				continue
			}
			durable, err := b.Lines().Begin(index.Line{TS: start.Add(time.Duration(i) * time.Minute), Host: h, Auth: true, CertHost: h,
				Method: "PUT", Endpoint: "logs", Status: 201, Commit: strings.Repeat("a", 40)})
			if err != nil {
				t.Fatal(err)
			}
			if err := durable(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, now := range []string{"2026-11-26T09:55:00Z", "2026-11-26T10:00:00Z", "2026-11-26T10:00:00Z", "2026-11-26T10:05:00Z"} {
		runCLI(t, "fleet-health", "--config", cfg, "--now", now)
	}
	alerts, err := b.Detector().ReadAlerts(func(fleethealth.Alert) bool { return true }, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Host != "lab-1" || alerts[0].Symptom != fleethealth.Silent || !alerts[0].TS.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("alerts in the database: %+v; want lab-1 silent once, at 10:00", alerts)
	}
	out := runCLI(t, "index", "--config", cfg, "--since", "2026-11-26T09:58:00Z", "--until", "2026-11-26T10:01:00Z")
	var kinds []string
	for l := range strings.Lines(out) {
		switch {
		case strings.HasPrefix(l, `{"kind":"alert",`):
			if !strings.Contains(l, `"host":"lab-1","symptom":"silent"`) {
				t.Errorf("alert line %s; want lab-1 silent", l)
			}
			kinds = append(kinds, "alert")
		case strings.HasPrefix(l, `{"kind":"request",`):
			kinds = append(kinds, "request")
		}
	}
	// lab-2's requests at 09:58 and 09:59, then the alert of 10:00.
	if got := strings.Join(kinds, " "); got != "request request alert" {
		t.Errorf("cis490 index printed %s; want two requests then the alert:\n%s", got, out)
	}

	// A replay into its own folder reads the shared index and leaves the
	// database's state and alerts alone.
	replay := filepath.Join(dir, "replay")
	for _, now := range []string{"2026-11-26T09:55:00Z", "2026-11-26T10:00:00Z"} {
		runCLI(t, "fleet-health", "--config", cfg, "--now", now, "--state", replay)
	}
	if b, err := os.ReadFile(filepath.Join(replay, "alerts.jsonl")); err != nil || !strings.Contains(string(b), `"host":"lab-1","symptom":"silent"`) {
		t.Errorf("the replay's alerts.jsonl: %q, %v; want lab-1 silent", b, err)
	}
	if again, _ := b.Detector().ReadAlerts(func(fleethealth.Alert) bool { return true }, 100); len(again) != 1 {
		t.Errorf("the replay wrote to the database: %+v", again)
	}
	if out := runCLI(t, "fleet-health", "--config", cfg, "--now", "2026-11-26T10:10:00Z", "--dry-run"); !strings.Contains(out, "lab-1") {
		t.Errorf("a dry run printed:\n%s\nwant lab-1's verdict", out)
	}

	runCLI(t, "silence", "add", "--config", cfg, "--host", "lab-9", "--for", "2h", "--reason", "moving rooms")
	if out := runCLI(t, "silence", "list", "--config", cfg); !strings.Contains(out, "lab-9") {
		t.Errorf("silence list after a silence add, on postgres+s3:\n%s", out)
	}
	if ss, err := fleethealth.ReadSilences(b.Detector()); err != nil || len(ss) != 1 {
		t.Errorf("silences in the database: %+v, %v; want lab-9's", ss, err)
	}
}

// TestSharedDetectorFleetView: on postgres+s3 a silence an admin adds on
// one receiver's machine is kept in the database, not in data_dir, and
// the other receiver's fleet view (`cis490 status` through it) shows it.
func TestSharedDetectorFleetView(t *testing.T) {
	f := newFleet(t, []string{"lab-01"}, true)
	section, _, _ := sharedStorage(t, f.dir)
	f.rcv.extra = "[fleet_health]\nsyslog = \"off\"\n" + section
	f.rcv.writeConfig()
	r2 := newReceiverProc(t, t.TempDir())
	r2.dataDir, r2.extra, r2.pool = f.rcv.dataDir, f.rcv.extra, f.rcv.pool
	r2.writeConfig()
	f.reissue(t) // trust is in the database
	f.rcv.Start()
	r2.Start()

	id := strings.TrimSpace(runCLI(t, "silence", "add", "--config", f.rcv.cfgPath, "--host", "lab-0*", "--for", "1h",
		"--reason", "being reimaged", "--by", "carol"))
	runCLI(t, "fleet-health", "--config", f.rcv.cfgPath)
	if _, err := os.Stat(filepath.Join(f.rcv.dataDir, "fleet-health", "silences.json")); err == nil {
		t.Error("the silence went to data_dir's silences.json, not to the database")
	}
	admin := filepath.Join(f.dir, "bundles", "shared-admin")
	out := runCLI(t, "status", "--admin", admin, "--receiver", r2.URL())
	if !strings.Contains(out, id+"  host=lab-0*") || !strings.Contains(out, "carol") {
		t.Errorf("status through the other receiver does not show the silence:\n%s", out)
	}
}

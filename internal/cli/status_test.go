package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/fleethealth/fleettest"
	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/transport"
)

// TestStatus: `cis490 status` shows every host from the receiver's index,
// the sick one first, with why; only an admin may read the fleet view.
func TestStatus(t *testing.T) {
	r := receivertest.Start(t, nil)
	ctx := context.Background()
	client := func(cr receivertest.Creds) *transport.Client {
		c, err := transport.New(transport.Options{Receiver: r.URL, Host: cr.Name, CertFile: cr.Cert, KeyFile: cr.Key,
			CAFile: cr.CA, TokenFile: cr.Token, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	good := client(r.IssueHost("lab-1", time.Now().Add(-time.Minute), 30*24*time.Hour))
	if _, err := good.PutLogs(ctx, "app.log", 0, transport.Gen{ID: "g1"}, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	// lab-2 holds lab-3's token: every request it makes is refused.
	crossed := r.IssueHost("lab-2", time.Now().Add(-time.Minute), 30*24*time.Hour)
	tok, _ := os.ReadFile(r.IssueHost("lab-3", time.Now(), time.Hour).Token)
	os.WriteFile(crossed.Token, tok, 0o600)
	bad := client(crossed)
	for range 3 {
		if _, err := bad.PutLogs(ctx, "app.log", 0, transport.Gen{ID: "g1"}, []byte("x\n")); err == nil {
			t.Fatal("a crossed token was accepted")
		}
	}

	// A host may not read the fleet view.
	var v fleethealth.View
	var te *transport.Error
	if err := good.GetJSON(ctx, "/v1/fleet", &v); !errors.As(err, &te) || te.Status != http.StatusForbidden {
		t.Fatalf("a host reading /v1/fleet: %v; want 403", err)
	}

	admin := r.IssueAdmin("alice")
	os.WriteFile(filepath.Join(admin.Dir, AdminReceiverFile), []byte(r.URL+"\n"), 0o644)
	code, out, errs := run(t, "status", "--admin", admin.Dir)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "lab-2 ") || !strings.Contains(lines[1], "sick") ||
		!strings.Contains(lines[1], "fatal-only: every log PUT failed: 3×4xx (confirming)") || !strings.Contains(lines[1], " in 29d ") || !strings.HasPrefix(lines[2], "lab-1 ") || !strings.Contains(lines[2], " ok ") {
		t.Fatalf("status table, sick host first:\n%s", out)
	}
	if !strings.Contains(out, "lab-2 fatal-only?: every log PUT failed: 3×4xx; mostly host-mismatch (3)") {
		t.Fatalf("status lacks why lab-2 is sick:\n%s", out)
	}
	if !strings.Contains(out, "the fleet-health detector has not run yet") {
		t.Fatalf("status does not say the detector never ran:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatal("colour codes written to something that is not a terminal")
	}

	table := lines
	code, out, _ = run(t, "status", "--admin", admin.Dir, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || len(v.Hosts) != 2 || v.Hosts[0].Requests24h["4xx"] != 3 {
		t.Fatalf("status --json: exit %d, %+v\n%s", code, v, out)
	}
	// The table and /v1/fleet's JSON say the same of each host.
	for i, r := range v.Hosts {
		if r.Why == "" || !strings.HasPrefix(table[i+1], r.Host+" ") || !strings.Contains(table[i+1], " "+r.State+" ") || !strings.Contains(table[i+1], r.Why) {
			t.Errorf("/v1/fleet says %s is %q because %q; status shows:\n%s", r.Host, r.State, r.Why, table[i+1])
		}
	}
	if code, _, errs := run(t, "status", "--admin", t.TempDir()); code != 1 || !strings.Contains(errs, "no receiver URL") {
		t.Fatalf("status without a bundle: exit %d, %q", code, errs)
	}
}

// TestStatusShowsHostTextSafely: what a host writes itself — its doctor
// summary and check names, its commit stamp — reaches `cis490 status` with
// its escape sequences shown (ESC as ^[), never as a raw ESC that would
// retitle the admin's window or clear the screen, and a newline in it
// cannot add a line of its own.
func TestStatusShowsHostTextSafely(t *testing.T) {
	r := receivertest.Start(t, nil)
	ctx := context.Background()
	tests := []struct {
		host, summary, commit string
		want                  string // shown on the host's lines
		lines                 int    // how many: its row, and doctor-failing's detail naming the check
	}{
		{"lab-1", "\x1b]0;pwned\x07all fine", "", `^[]0;pwned^Gall fine`, 2},
		{"lab-2", "\x1b[2Jall fine", "", `^[[2Jall fine`, 2},
		{"lab-3", "\u009b2Jall fine", "", `\u009b2Jall fine`, 2},
		{"lab-4", "all fine\nlab-9  ok  forged", "", `all fine^Jlab-9  ok  forged`, 2},
		{"lab-5", "all fine", "\u009b2J\u202eabc", `\u009b2J\u202e`, 1}, // the commit is in the row only
	}
	for _, tt := range tests {
		cr := r.IssueHost(tt.host, time.Now().Add(-time.Minute), 30*24*time.Hour)
		c, err := transport.New(transport.Options{Receiver: r.URL, Host: tt.host, CertFile: cr.Cert, KeyFile: cr.Key,
			CAFile: cr.CA, TokenFile: cr.Token, Timeout: 10 * time.Second, Commit: tt.commit})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if _, err := c.PutLogs(ctx, "app.log", 0, transport.Gen{ID: "g1"}, []byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		snap, _ := json.Marshal(map[string]any{"schema": 1, "ok": false, "summary": tt.summary,
			"checks": []map[string]string{{"name": tt.summary, "status": "fail"}}})
		if err := c.PutHostHealth(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	admin := r.IssueAdmin("alice")
	os.WriteFile(filepath.Join(admin.Dir, AdminReceiverFile), []byte(r.URL+"\n"), 0o644)
	code, out, errs := run(t, "status", "--admin", admin.Dir)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Fatalf("status wrote a host's control characters raw:\n%q", out)
	}
	lines := strings.Split(out, "\n")
	for _, tt := range tests {
		rows := 0
		for _, l := range lines {
			if strings.HasPrefix(l, tt.host+" ") && strings.Contains(l, tt.want) {
				rows++
			}
		}
		if rows != tt.lines {
			t.Errorf("%s: %d lines show %q; want %d:\n%s", tt.host, rows, tt.want, tt.lines, out)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "lab-9") {
			t.Fatalf("a doctor summary forged a line:\n%s", out)
		}
	}

	// --json: the same JSON for a program, nothing raw for a terminal.
	code, out, errs = run(t, "status", "--admin", admin.Dir, "--json")
	var v fleethealth.View
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v: %s", code, err, errs)
	}
	if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Fatalf("status --json wrote a host's control characters raw:\n%q", out)
	}
	commits := map[string]string{}
	for _, r := range v.Hosts {
		commits[r.Host] = r.Commit
	}
	if commits["lab-5"] != tests[4].commit {
		t.Fatalf("status --json read back lab-5's commit as %q; want %q", commits["lab-5"], tests[4].commit)
	}
}

// TestWriteStatusCleansTheReceiversView: a receiver that did not clean a
// host's text (an older one) still cannot drive the admin's terminal, in
// colour or not.
func TestWriteStatusCleansTheReceiversView(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	raw := "\x1b]0;pwned\x07\x1b[2J\nlab-9 ok"
	v := &fleethealth.View{AsOf: now, DetectorRan: now,
		Fleet: []fleethealth.Symptom{{Symptom: "receiver-fault", Detail: raw}},
		Hosts: []fleethealth.Row{{Host: "lab-1", State: "sick", LastSeen: now, Commit: raw,
			Symptoms: []fleethealth.Symptom{{Symptom: "doctor-failing", Detail: raw, Firing: true}},
			Doctor:   &fleethealth.Doctor{Received: now, Summary: raw}}}}
	for _, colour := range []bool{false, true} {
		var b strings.Builder
		if err := writeStatus(&b, v, colour); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if colour {
			out = strings.NewReplacer("\x1b[1;31m", "", "\x1b[31m", "", "\x1b[0m", "").Replace(out) // its own colours
		}
		if strings.ContainsAny(out, "\x1b\x07") || strings.Contains(out, "\nlab-9") {
			t.Fatalf("colour %v: a host's text reached the terminal raw:\n%q", colour, out)
		}
		if strings.Count(out, `^[]0;pwned^G^[[2J^Jlab-9 ok`) != 3 { // fleet line, doctor, symptom detail
			t.Fatalf("colour %v: the host's text is not shown escaped:\n%s", colour, out)
		}
	}
}

// TestWriteStatusStateAndWhy: every host's row shows the state word and
// the why fleethealth.HostState wrote, the words the demo, the dashboard
// and /v1/fleet show for it.
func TestWriteStatusStateAndWhy(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	v := fleettest.View(now)
	var b strings.Builder
	if err := writeStatus(&b, v, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for i, r := range v.Hosts {
		t.Run(r.Host, func(t *testing.T) {
			row := strings.Fields(lines[i+1])
			if len(row) < 3 || row[0] != r.Host || row[1] != r.State || !strings.Contains(lines[i+1], "  "+r.Why+"  ") {
				t.Errorf("row %q; want %s, %q, %q", lines[i+1], r.Host, r.State, r.Why)
			}
		})
	}
}

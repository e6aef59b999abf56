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
		!strings.Contains(lines[1], "fatal-only?") || !strings.Contains(lines[1], " in 29d ") || !strings.HasPrefix(lines[2], "lab-1 ") || !strings.Contains(lines[2], " ok ") {
		t.Fatalf("status table, sick host first:\n%s", out)
	}
	if !strings.Contains(out, "lab-2 fatal-only: every log PUT failed: 3×4xx; mostly host-mismatch (3)") {
		t.Fatalf("status lacks why lab-2 is sick:\n%s", out)
	}
	if !strings.Contains(out, "the fleet-health detector has not run yet") {
		t.Fatalf("status does not say the detector never ran:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatal("colour codes written to something that is not a terminal")
	}

	code, out, _ = run(t, "status", "--admin", admin.Dir, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || len(v.Hosts) != 2 || v.Hosts[0].Requests24h["4xx"] != 3 {
		t.Fatalf("status --json: exit %d, %+v\n%s", code, v, out)
	}
	if code, _, errs := run(t, "status", "--admin", t.TempDir()); code != 1 || !strings.Contains(errs, "no receiver URL") {
		t.Fatalf("status without a bundle: exit %d, %q", code, errs)
	}
}

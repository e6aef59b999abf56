package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/receivertest"
)

// TestDoctorAndShipHealthCheck: `cis490 doctor` exits 1 when a check
// fails; `cis490 ship-health-check` delivers the report anyway (exit 0),
// and the receiver keeps it where GET /v1/host-health finds it.
func TestDoctorAndShipHealthCheck(t *testing.T) {
	r := receivertest.Start(t, nil)
	c := r.IssueHost("lab-7", time.Now(), time.Hour)
	cfg := filepath.Join(t.TempDir(), "lab-host.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("receiver = %q\nhost = \"lab-7\"\nstate_dir = %q\n[tls]\ncert = %q\nkey = %q\nca = %q\ntoken_file = %q\n",
		r.URL, filepath.Join(filepath.Dir(cfg), "state"), c.Cert, c.Key, c.CA, c.Token)), 0o644)
	os.Chmod(c.Token, 0o644) // a token others can read: a failing check

	code, out, errs := run(t, "doctor", "--config", cfg)
	if code != 1 || !regexp.MustCompile(`✗\s+token-file`).MatchString(out) || !strings.Contains(out, "→ chmod 600") ||
		!regexp.MustCompile(`✓\s+receiver-auth`).MatchString(out) {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = run(t, "doctor", "--config", cfg, "--json")
	var rep struct {
		Schema  int    `json:"schema"`
		OK      bool   `json:"ok"`
		Summary string `json:"summary"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.Schema != 1 || rep.OK || !strings.Contains(rep.Summary, "token-file") {
		t.Fatalf("doctor --json: exit %d %+v\n%s", code, rep, out)
	}

	if code, _, errs := run(t, "ship-health-check", "--config", cfg); code != 0 {
		t.Fatalf("ship-health-check: exit %d: %s", code, errs)
	}
	snap, err := hosthealth.Folder(datadir.Dir(r.DataDir).HostHealth()).Read("lab-7")
	if err != nil || !strings.Contains(string(snap.Snapshot), `"summary": "1 failing: token-file"`) || time.Since(snap.ReceivedAt) > time.Minute {
		t.Fatalf("stored snapshot %v %v", snap, err)
	}

	// The receiver is gone: the report cannot be delivered, exit 1.
	r.Stop()
	if code, _, errs := run(t, "ship-health-check", "--config", cfg, "--tries", "2"); code != 1 || !strings.Contains(errs, "did not reach the receiver") ||
		!strings.Contains(errs, "trying again") {
		t.Fatalf("ship-health-check with the receiver down: exit %d: %s", code, errs)
	}
}

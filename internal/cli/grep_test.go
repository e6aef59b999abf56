package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/transport"
)

// TestGrep: `cis490 grep` prints every host's matching lines with where
// and when they are, a summary on stderr, and exits as grep does: 0 when
// something matched, 1 when nothing did, 2 on bad input.
func TestGrep(t *testing.T) {
	r := receivertest.Start(t, nil)
	for _, h := range []string{"lab-1", "lab-2"} {
		cr := r.IssueHost(h, time.Now().Add(-time.Minute), 24*time.Hour)
		c, err := transport.New(transport.Options{Receiver: r.URL, Host: h, CertFile: cr.Cert, KeyFile: cr.Key,
			CAFile: cr.CA, TokenFile: cr.Token, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := h + ": boot ok\n" + h + ": kernel: Out of memory: killed 42\n" + h + ": \x1b]0;pwned\x07 memoryless\n"
		if _, err := c.PutLogs(t.Context(), "syslog", 0, transport.Gen{ID: "g"}, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	admin := r.IssueAdmin("alice")
	os.WriteFile(filepath.Join(admin.Dir, AdminReceiverFile), []byte(r.URL+"\n"), 0o644)

	code, out, errs := run(t, "grep", "--admin", admin.Dir, "-i", "out of memory")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "lab-1/syslog@15 ") || !strings.HasSuffix(lines[0], "  lab-1: kernel: Out of memory: killed 42") ||
		!strings.HasPrefix(lines[1], "lab-2/syslog@15 ") {
		t.Fatalf("grep: exit %d\n%s\nstderr: %s", code, out, errs)
	}
	if !strings.Contains(errs, "2 matching lines in 2 streams") {
		t.Fatalf("grep's summary: %q", errs)
	}

	code, out, _ = run(t, "grep", "--admin", admin.Dir, "--substring", "--hosts", "lab-2", "memoryl")
	if code != 0 || !strings.Contains(out, "lab-2/syslog@") || strings.Contains(out, "lab-1") {
		t.Fatalf("grep --substring --hosts lab-2: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "grep", "--admin", admin.Dir, "--count", "memory")
	if code != 0 || strings.TrimSpace(out) != "2" {
		t.Fatalf("grep --count memory: exit %d %q; want 2 (memoryless is another word)", code, out)
	}
	code, out, _ = run(t, "grep", "--admin", admin.Dir, "--json", "--limit", "1", "memory")
	var last map[string]any
	jl := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(jl[len(jl)-1]), &last); code != 0 || len(jl) != 2 || err != nil || last["kind"] != "summary" || last["limited"] != true || last["cursor"] == "" {
		t.Fatalf("grep --json --limit 1: exit %d\n%s", code, out)
	}
	code, out, errs = run(t, "grep", "--admin", admin.Dir, "--cursor", last["cursor"].(string), "memory")
	if code != 0 || !strings.HasPrefix(out, "lab-2/syslog@15 ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("grep continued from the cursor: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := run(t, "grep", "--admin", admin.Dir, "nowhere"); code != 1 || out != "" || !strings.Contains(errs, "0 matching lines") {
		t.Fatalf("grep with no match: exit %d %q %q; want exit 1", code, out, errs)
	}
	for _, args := range [][]string{
		{"grep", "--admin", admin.Dir},
		{"grep", "--admin", admin.Dir, "--regex", "a("},
		{"grep", "--admin", admin.Dir, "--regex", "--substring", "x"},
		{"grep", "--admin", admin.Dir, "--since", "yesterday", "x"},
	} {
		if code, _, errs := run(t, args...); code != 2 || errs == "" {
			t.Errorf("%q: exit %d %q; want exit 2 and why", args[3:], code, errs)
		}
	}
	// The receiver refuses what only it can judge, and says why.
	if code, _, errs := run(t, "grep", "--admin", admin.Dir, "--regex", ".*"); code != 2 || !strings.Contains(errs, "no literal text") {
		t.Errorf("a regexp with nothing to look for over all time: exit %d %q; want 2 and why", code, errs)
	}
}

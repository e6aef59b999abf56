package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/receivertest"
)

// TestSilenceAddListExpire: an admin adds a silence and gets its id, sees
// it in `silence list` with who set it and why, ends it with `silence
// expire`, and then finds it only under --all.
func TestSilenceAddListExpire(t *testing.T) {
	cfg, data := fleetData(t)
	t.Setenv("SUDO_USER", "alice")
	code, out, errs := run(t, "silence", "add", "--config", cfg, "--host", "LAB-2*", "--symptom", "silent", "--for", "2h", "--reason", "room 2 is being rewired")
	if code != 0 {
		t.Fatalf("silence add: exit %d: %s", code, errs)
	}
	id := strings.TrimSpace(out)
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(id) {
		t.Fatalf("silence add printed %q; want its id alone", out)
	}
	if !strings.Contains(errs, "silence "+id+": host=lab-2* symptom=silent until ") || !strings.Contains(errs, "(2h), by alice") ||
		!strings.Contains(errs, "`cis490 silence expire "+id+"`") {
		t.Fatalf("silence add says %q; want the matcher, the end, who and how to end it", errs)
	}
	if _, err := os.Stat(filepath.Join(data, "fleet-health", "silences.json")); err != nil {
		t.Fatalf("the silence is not in data_dir: %v", err)
	}

	code, out, errs = run(t, "silence", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, id+"  host=lab-2* symptom=silent") || !strings.Contains(out, "alice") || !strings.Contains(out, "room 2 is being rewired") {
		t.Fatalf("silence list: exit %d %q:\n%s", code, errs, out)
	}

	code, out, errs = run(t, "silence", "expire", id, "--config", cfg)
	if code != 0 || !strings.Contains(out, "silence "+id+" ended") {
		t.Fatalf("silence expire: exit %d %q %q", code, out, errs)
	}
	if code, out, _ := run(t, "silence", "list", "--config", cfg); code != 0 || strings.TrimSpace(out) != "no silence is active" {
		t.Fatalf("silence list after the expire: exit %d:\n%s", code, out)
	}
	if code, out, _ := run(t, "silence", "list", "--config", cfg, "--all"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "(ended)") {
		t.Fatalf("silence list --all: exit %d:\n%s", code, out)
	}
	if code, _, errs := run(t, "silence", "expire", id, "--config", cfg); code != 1 || !strings.Contains(errs, "ended already") {
		t.Fatalf("expiring it again: exit %d %q", code, errs)
	}
	os.WriteFile(cfg+".elsewhere", []byte("data_dir = \"nowhere\"\n"), 0o644)
	if code, _, errs := run(t, "silence", "add", "--config", cfg+".elsewhere", "--host", "lab-1", "--for", "1h", "--reason", "r"); code != 1 ||
		!strings.Contains(errs, "run this on the receiver, with --config naming its receiver.toml") {
		t.Fatalf("a config whose data_dir is not there: exit %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "nowhere")); !os.IsNotExist(err) {
		t.Fatalf("silence add made a data_dir where none was: %v", err)
	}
	if code, _, errs := run(t, "silence", "expire", "0000beef", "--config", cfg); code != 1 || !strings.Contains(errs, "no silence 0000beef; `cis490 silence list --all` lists them") {
		t.Fatalf("expiring an unknown id: exit %d %q", code, errs)
	}
}

// TestSilenceAddRefuses: each mistake is one line on stderr, exit 2, and
// nothing is written.
func TestSilenceAddRefuses(t *testing.T) {
	cfg, data := fleetData(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown symptom", []string{"--symptom", "slient", "--for", "1h", "--reason", "r"}, `no symptom "slient"; did you mean "silent"?`},
		{"no reason", []string{"--host", "lab-1", "--for", "1h"}, "give --reason"},
		{"negative --for", []string{"--host", "lab-1", "--for", "-1h", "--reason", "r"}, `--for: "-1h" is negative`},
		{"no end", []string{"--host", "lab-1", "--reason", "r"}, "give --for 2h or --until TIME"},
		{"both ends", []string{"--host", "lab-1", "--for", "1h", "--until", "2099-01-01T00:00:00Z", "--reason", "r"}, "not both"},
		{"past --until", []string{"--host", "lab-1", "--until", "2001-01-01T00:00:00Z", "--reason", "r"}, "has passed"},
		{"no matcher", []string{"--for", "1h", "--reason", "r"}, "give --host GLOB, --symptom NAME or both"},
		{"a typo in the verb", nil, "did you mean `silence add`?"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"silence", "add", "--config", cfg}, c.args...)
			if c.args == nil {
				args = []string{"silence", "ad"}
			}
			code, _, errs := run(t, args...)
			if code != 2 || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("exit %d, %q; want 2 and one line saying %q", code, errs, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, "fleet-health", "silences.json")); !os.IsNotExist(err) {
		t.Fatalf("a refused silence wrote silences.json: %v", err)
	}
}

// TestStatusShowsSilences: a silence added on the receiver shows in
// `cis490 status`, read through the receiver's /v1/fleet, with who set it
// and why.
func TestStatusShowsSilences(t *testing.T) {
	r := receivertest.Start(t, nil)
	cfg := filepath.Join(t.TempDir(), "receiver.toml")
	os.WriteFile(cfg, []byte("data_dir = \""+r.DataDir+"\"\n"), 0o644)
	code, out, errs := run(t, "silence", "add", "--config", cfg, "--host", "*", "--for", "3h", "--reason", "receiver migration", "--by", "bob")
	if code != 0 {
		t.Fatalf("silence add: exit %d: %s", code, errs)
	}
	id := strings.TrimSpace(out)
	admin := r.IssueAdmin("alice")
	os.WriteFile(filepath.Join(admin.Dir, AdminReceiverFile), []byte(r.URL+"\n"), 0o644)
	code, out, errs = run(t, "status", "--admin", admin.Dir)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	line := regexp.MustCompile(`(?m)^` + id + `\s+host=\*\s+\S+ \S+\s+\S+ \S+ \(in 2h\)\s+bob\s+receiver migration$`)
	if !strings.Contains(out, "silenced (alerts they match are written, not sent):") || !line.MatchString(out) {
		t.Fatalf("status does not show the silence %s set by bob:\n%s", id, out)
	}
}

package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/config"
)

// TestIssueForThisMachine: a receiver configured outside /etc issues
// host bundles whose lab-host.toml works on this machine without root
// (state inside the bundle, logs/ beside it), and --state-dir and
// --source say otherwise; each loads as a valid lab-host.toml.
func TestIssueForThisMachine(t *testing.T) {
	dir, cfg := withCA(t)
	load := func(bundle string) *config.LabHost {
		t.Helper()
		h, err := config.LoadLabHost(filepath.Join(bundle, "lab-host.toml"))
		if err != nil {
			t.Fatalf("the generated lab-host.toml: %v", err)
		}
		return h
	}

	here := filepath.Join(dir, "lab-1")
	code, out, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", here, "--receiver-url", "https://127.0.0.1:8443")
	if code != 0 || !strings.Contains(out, "on this machine run: cis490 ship --config "+filepath.Join(here, "lab-host.toml")) {
		t.Fatalf("ca issue: %d %q %q", code, out, errs)
	}
	h := load(here)
	if h.StateDir != filepath.Join(here, "state") || !slices.Equal(sourcePaths(h), []string{filepath.Join(dir, "logs", "*.log")}) {
		t.Fatalf("state_dir %s, sources %v; want the bundle's state/ and logs/*.log beside it", h.StateDir, sourcePaths(h))
	}

	there := filepath.Join(dir, "lab-2")
	code, _, errs = run(t, "ca", "issue", "--config", cfg, "--host", "lab-2", "--out", there, "--receiver-url", "https://127.0.0.1:8443",
		"--state-dir", "/var/tmp/lab-2", "--source", "/srv/app/*.log", "--source", "/var/log/syslog")
	if code != 0 {
		t.Fatal(errs)
	}
	h = load(there)
	if h.StateDir != "/var/tmp/lab-2" || !slices.Equal(sourcePaths(h), []string{"/srv/app/*.log", "/var/log/syslog"}) {
		t.Fatalf("state_dir %s, sources %v; want what the flags said", h.StateDir, sourcePaths(h))
	}

	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-3", "--source", "logs/*.log"); code != 2 || !strings.Contains(errs, "give an absolute path") {
		t.Fatalf("a relative --source: %d %q; want a usage error", code, errs)
	}
}

// TestSystemLayout: a bundle for a real lab host keeps the installed
// layout, and the zero layout writes what lab hosts always had.
func TestSystemLayout(t *testing.T) {
	if !isSystemPath("/etc/cis490/receiver.toml") || !isSystemPath("/tmp/image/etc/cis490") || isSystemPath("receiver.toml") || isSystemPath("/etcetera/receiver.toml") {
		t.Fatal("isSystemPath mistakes where a real installation is")
	}
	toml := labHostTOML("https://r:8443", "lab-1", "", hostLayout{})
	if strings.Contains(toml, "state_dir") || !strings.Contains(toml, "path = \"/var/log/*.log\"") {
		t.Fatalf("a lab host's lab-host.toml:\n%s", toml)
	}
	// With a journal: it ships, and rsyslog's copies of it do not.
	toml = labHostTOML("https://r:8443", "lab-1", "", hostLayout{journal: true})
	p := filepath.Join(t.TempDir(), "lab-host.toml")
	os.WriteFile(p, []byte(toml), 0o644)
	h, err := config.LoadLabHost(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, toml)
	}
	if len(h.Journals) != 1 || h.Journals[0].Stream != "journal" || len(h.Sources) != 1 || !slices.Contains(h.Sources[0].Exclude, "auth.log") {
		t.Fatalf("a lab host with a journal:\n%s", toml)
	}
}

func sourcePaths(h *config.LabHost) []string {
	var ps []string
	for _, s := range h.Sources {
		ps = append(ps, s.Path)
	}
	return ps
}

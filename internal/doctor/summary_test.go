package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/config"
)

// TestSummaryWords: the summary's counts agree with their nouns.
func TestSummaryWords(t *testing.T) {
	c := func(name string, st Status) Check { return Check{Name: name, Status: st} }
	for _, tt := range []struct {
		checks []Check
		want   string
	}{
		{[]Check{c("clock", OK)}, "ok (1 check)"},
		{[]Check{c("clock", OK), c("disk", OK)}, "ok (2 checks)"},
		{[]Check{c("clock", OK), c("sources", Warn)}, "ok, 1 warning: sources"},
		{[]Check{c("shipper", Warn), c("sources", Warn)}, "ok, 2 warnings: shipper, sources"},
		{[]Check{c("tls", Fail), c("sources", Warn)}, "1 failing: tls"},
	} {
		r := &Report{Checks: tt.checks}
		r.finish()
		if r.Summary != tt.want {
			t.Errorf("%v: summary %q; want %q", tt.checks, r.Summary, tt.want)
		}
	}
}

// TestSourcesWords: the sources check counts sources and files in words
// that agree, and names a missing source even when another one fails.
func TestSourcesWords(t *testing.T) {
	dir := t.TempDir()
	readable := filepath.Join(dir, "ok.log")
	os.WriteFile(readable, []byte("x\n"), 0o644)
	missing := filepath.Join(dir, "app.log")
	// Under a regular file: it cannot be opened, and not because it is
	// missing (chmod would not stop root, who may run the tests).
	unreadable := filepath.Join(readable, "nested.log")
	for _, tt := range []struct {
		sources []string
		status  Status
		finding string
	}{
		{[]string{readable}, OK, "1 of 1 source readable (1 file)"},
		{[]string{readable, missing}, Warn, "1 of 2 sources readable (1 file); nothing there yet: " + missing},
		{[]string{missing}, Warn, "0 of 1 source readable (0 files); nothing there yet: " + missing},
		{[]string{unreadable, missing, readable}, Fail, "cannot read " + unreadable + "; 1 of 3 sources readable (1 file); nothing there yet: " + missing},
	} {
		cfg := &config.LabHost{}
		for _, p := range tt.sources {
			cfg.Sources = append(cfg.Sources, config.Source{Path: p})
		}
		c := ok(checkSources(context.Background(), &env{cfg: cfg, opt: Options{Config: "lab-host.toml"}}))
		if c.Status != tt.status || !strings.Contains(c.Finding, tt.finding) {
			t.Errorf("%v: %s %q; want %s with %q", tt.sources, c.Status, c.Finding, tt.status, tt.finding)
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the command line and returns the exit status and both outputs.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{"no command", nil, 2, "usage: cis490", ""},
		{"help", []string{"help"}, 0, "commands:", ""},
		{"help for a command", []string{"help", "receiver"}, 0, "--config", ""},
		{"-h on a command", []string{"ca", "issue", "-h"}, 0, "--host", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"receiver", "--nope"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"version", "extra"}, 2, "", `unexpected argument "extra"`},
		{"issue needs a name", []string{"ca", "issue"}, 2, "", "exactly one of --host NAME or --admin NAME"},
		{"missing config", []string{"receiver", "--config", "/nonexistent/receiver.toml"}, 1, "", "/nonexistent/receiver.toml"},
		{"version", []string{"version"}, 0, "commit ", ""},
		{"--version", []string{"--version"}, 0, "commit ", ""},
		{"-v", []string{"-v"}, 0, "commit ", ""},
		{"mistyped command", []string{"stauts"}, 2, "", "did you mean `cis490 status`?"},
		{"mistyped help", []string{"help", "recevier"}, 2, "", "did you mean `cis490 receiver`?"},
		{"mistyped subcommand", []string{"ca", "isue"}, 2, "", "did you mean `ca issue`?"},
		{"unknown subcommand", []string{"token", "frobnicate"}, 2, "", "say `token create` or `token revoke`"},
		{"help for a subcommand", []string{"help", "ca", "init"}, 0, "--server-name", ""},
		{"help for a group", []string{"help", "release"}, 0, "`cis490 help release keygen`", ""},
	}
	for _, tt := range tests {
		code, out, errs := run(t, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q",
				tt.name, code, out, errs, tt.code, tt.out, tt.err)
		}
		if strings.Count(out, "usage: cis490") > 1 {
			t.Errorf("%s: usage printed more than once: %q", tt.name, out)
		}
		if tt.code == 2 && len(tt.args) > 0 && out != "" {
			t.Errorf("%s: a usage error printed to stdout: %q", tt.name, out)
		}
		if tt.code == 2 && strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: usage error is more than one line: %q", tt.name, errs)
		}
	}
}

func TestVersionFlagsSayWhatVersionSays(t *testing.T) {
	_, want, _ := run(t, "version")
	for _, arg := range []string{"--version", "-v"} {
		if code, out, errs := run(t, arg); code != 0 || out != want {
			t.Errorf("cis490 %s: exit %d, %q %q; want exit 0 and %q", arg, code, out, errs, want)
		}
	}
}

// TestGroupsNameEveryVerb: a group alone names every verb it has, and its
// help gives each one line, so no verb hides (ca revoke, backup and restore
// once did).
func TestGroupsNameEveryVerb(t *testing.T) {
	for group, verbs := range map[string][]string{
		"ca":      {"init", "server-cert", "issue", "revoke", "backup", "restore"},
		"token":   {"create", "revoke"},
		"release": {"keygen", "sign", "publish"},
		"host":    {"remove"},
	} {
		code, _, errs := run(t, group)
		if code != 2 {
			t.Errorf("cis490 %s: exit %d; want 2", group, code)
		}
		code, out, _ := run(t, "help", group)
		if code != 0 || !strings.Contains(out, "`cis490 help "+group+" "+verbs[0]+"`") {
			t.Errorf("cis490 help %s: exit %d, %q; want exit 0 and a pointer at `cis490 help %s %s`", group, code, out, group, verbs[0])
		}
		for _, v := range verbs {
			if !strings.Contains(errs, "`"+group+" "+v+"`") {
				t.Errorf("cis490 %s: %q does not name `%s %s`", group, errs, group, v)
			}
			if !strings.Contains(out, "\n  "+v+" ") {
				t.Errorf("cis490 help %s: %q has no line for %s", group, out, v)
			}
			if code, out, _ := run(t, "help", group, v); code != 0 || !strings.HasPrefix(out, "usage: cis490 "+group+" "+v) {
				t.Errorf("cis490 help %s %s: exit %d, %q; want its usage", group, v, code, out)
			}
		}
	}
}

func TestCAInitAndIssue(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte("data_dir = \"data\"\nserver_names = [\"recv.lab\"]\nlisten = \":9443\"\n"), 0o644)
	// --server-name adds to server_names (the bundles' receiver URL uses
	// them), as the receiver package does with the machine's names.
	code, out, errs := run(t, "ca", "init", "--config", cfg, "--server-name", "10.0.0.2", "--server-name", "RECV.lab")
	if code != 0 || !strings.Contains(out, "CA fingerprint (sha256) ") || !strings.Contains(out, "server certificate for recv.lab, 10.0.0.2\n") {
		t.Fatalf("ca init: %d %q %q", code, out, errs)
	}
	for _, f := range []string{"ca.key", "server.key"} {
		st, err := os.Stat(filepath.Join(dir, "data", "ca", f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", f, err, st.Mode())
		}
	}
	if code, _, errs := run(t, "ca", "init", "--config", cfg); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("second ca init: %d %q; want a refusal to overwrite the CA", code, errs)
	}
	out1 := filepath.Join(dir, "bundle")
	if code, out, errs := run(t, "ca", "issue", "--config", cfg, "--host", "Lab-7", "--out", out1); code != 0 || !strings.Contains(out, "issued host lab-7") {
		t.Fatalf("ca issue: %d %q %q", code, out, errs)
	}
	toml, err := os.ReadFile(filepath.Join(out1, "lab-host.toml"))
	if err != nil || !strings.Contains(string(toml), `receiver = "https://recv.lab:9443"`) || !strings.Contains(string(toml), `host = "lab-7"`) {
		t.Fatalf("lab-host.toml = %q, %v", toml, err)
	}
	tok, _ := os.ReadFile(filepath.Join(out1, "token"))
	stored, _ := os.ReadFile(filepath.Join(dir, "data", "tokens.json"))
	if len(tok) < 40 || bytes.Contains(stored, bytes.TrimSpace(tok)) {
		t.Fatalf("the token must be stored only as its hash (token %d bytes)", len(tok))
	}
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "recv.lab", "--out", filepath.Join(dir, "x")); code != 1 || !strings.Contains(errs, "receiver's own name") {
		t.Fatalf("issuing the receiver's name: %d %q; want a refusal", code, errs)
	}
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "bad_name"); code != 2 || !strings.Contains(errs, "bad_name") {
		t.Fatalf("bad host name: %d %q", code, errs)
	}
	if code, out, errs := run(t, "ca", "issue", "--config", cfg, "--admin", "alice", "--out", filepath.Join(dir, "adm")); code != 0 || !strings.Contains(out, "issued admin alice") {
		t.Fatalf("ca issue --admin: %d %q %q", code, out, errs)
	}
}

// TestParseMixed: flags may follow the arguments; "--" ends the flags.
func TestParseMixed(t *testing.T) {
	for _, c := range []struct {
		args []string
		pos  string
		f    bool
	}{
		{[]string{"lab-1", "syslog", "--follow"}, "lab-1 syslog", true},
		{[]string{"--follow", "lab-1"}, "lab-1", true},
		{[]string{"lab-1", "--follow", "syslog"}, "lab-1 syslog", true},
		{[]string{"lab-1", "--", "--follow"}, "lab-1 --follow", false},
		{nil, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		follow := fs.Bool("follow", false, "")
		pos, err := parseMixed(fs, c.args)
		if err != nil || strings.Join(pos, " ") != c.pos || *follow != c.f {
			t.Errorf("%q: %q follow=%v %v; want %q follow=%v", c.args, pos, *follow, err, c.pos, c.f)
		}
	}
}

package cli

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// flagRE is a flag as help and the README write it: --name.
	flagRE = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	// readmeCmdRE is a command line in the README: cis490, ./cis490 or
	// go run ./cmd/cis490, then the command.
	readmeCmdRE = regexp.MustCompile(`(?:^|[\s(])(?:[\w./-]*/)?cis490 ([a-z][a-z0-9-]*)`)
	codeSpanRE  = regexp.MustCompile("`([^`]+)`")
	// placeholderRE is a flag line of -h: "  -name placeholder".
	placeholderRE = regexp.MustCompile(`(?m)^  -([a-z0-9-]+) ?(\S*)`)
)

// helpOf is what `cis490 WORDS... -h` prints, or fails the test.
func helpOf(t *testing.T, words ...string) string {
	t.Helper()
	code, out, errs := run(t, append(words, "-h")...)
	if code != 0 {
		t.Fatalf("cis490 %s -h: exit %d, %q", strings.Join(words, " "), code, errs)
	}
	return out
}

// definesFlag: help (a -h output) lists the flag among its defaults.
func definesFlag(help, name string) bool {
	return strings.Contains(help, "\n  -"+name+" ") || strings.Contains(help, "\n  -"+name+"\n")
}

// verbs lists a command group's verbs from its help; nil for a command
// that is not a group.
func verbs(t *testing.T, cmd string) []string {
	out := helpOf(t, cmd)
	if !strings.HasPrefix(out, "usage: cis490 "+cmd+" <command>") {
		return nil
	}
	_, list, _ := strings.Cut(out, "commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	var vs []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			vs = append(vs, f[0])
		}
	}
	return vs
}

// TestHelpFlagsExist: every flag a usage line names (the command table's
// and each command's -h) is one the command defines.
func TestHelpFlagsExist(t *testing.T) {
	for _, c := range commands() {
		paths := [][]string{{c.name}}
		if vs := verbs(t, c.name); vs != nil {
			paths = nil
			for _, v := range vs {
				paths = append(paths, []string{c.name, v})
			}
		}
		var all strings.Builder // every -h of the command, for its table line
		for _, p := range paths {
			help := helpOf(t, p...)
			all.WriteString(help)
			for _, m := range placeholderRE.FindAllStringSubmatch(help, -1) {
				// The flag package makes a backquoted word of a flag's usage
				// its placeholder: "-from ca" for "the archive `ca backup` wrote".
				if !slices.Contains([]string{"", "string", "int", "uint", "int64", "uint64", "float", "duration", "value"}, m[2]) {
					t.Errorf("`cis490 %s -h` shows -%s %s: a backquote in its usage", strings.Join(p, " "), m[1], m[2])
				}
			}
			usage, _, _ := strings.Cut(help, "\n")
			for _, m := range flagRE.FindAllStringSubmatch(usage, -1) {
				if !definesFlag(help, m[1]) {
					t.Errorf("`cis490 %s -h` shows --%s, which it does not define", strings.Join(p, " "), m[1])
				}
			}
		}
		for _, m := range flagRE.FindAllStringSubmatch(c.usage, -1) {
			if !definesFlag(all.String(), m[1]) {
				t.Errorf("the command table's usage of %s names --%s, which it does not define", c.name, m[1])
			}
		}
	}
}

// readmeCommandLines is every command line the README shows: those in code
// blocks and code spans that run cis490, and the first column of its
// command table (written without "cis490 ").
func readmeCommandLines(t *testing.T) []string {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	fenced, commandTable := false, false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			commandTable = line == "## Commands"
		}
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced || strings.HasPrefix(line, "    ") {
			lines = append(lines, line)
			continue
		}
		if cell, ok := strings.CutPrefix(line, "| `"); ok && commandTable {
			first, _, _ := strings.Cut(cell, " |")
			for _, m := range codeSpanRE.FindAllStringSubmatch("`"+first, -1) {
				lines = append(lines, "cis490 "+m[1])
			}
			continue
		}
		for _, m := range codeSpanRE.FindAllStringSubmatch(line, -1) {
			lines = append(lines, m[1])
		}
	}
	return lines
}

// TestREADMECommandsExist: every command, verb and flag the README shows
// exists, so the README and the code cannot drift apart again.
func TestREADMECommandsExist(t *testing.T) {
	names := []string{"help"}
	for _, c := range commands() {
		names = append(names, c.name)
	}
	groups := map[string][]string{}
	checked := 0
	for _, line := range readmeCommandLines(t) {
		for _, loc := range readmeCmdRE.FindAllStringSubmatchIndex(line, -1) {
			cmd := line[loc[2]:loc[3]]
			if cmd == "cis490" { // "--home /var/lib/cis490 cis490": a user name
				continue
			}
			if !slices.Contains(names, cmd) {
				t.Errorf("README: %q runs `cis490 %s`, which is no command", line, cmd)
				continue
			}
			rest := line[loc[3]:]
			// The command's words end at a comment, a pipe or a redirection.
			if i := strings.IndexAny(rest, "#<>;`"); i >= 0 {
				rest = rest[:i]
			}
			rest = strings.ReplaceAll(rest, `\|`, "|")
			if i := strings.Index(rest, " | "); i >= 0 {
				rest = rest[:i]
			}
			path := []string{cmd}
			if cmd == "help" {
				continue
			}
			if _, ok := groups[cmd]; !ok {
				groups[cmd] = verbs(t, cmd)
			}
			if vs := groups[cmd]; vs != nil {
				verb, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
				if verb == "" {
					continue // the group itself, named in a sentence
				}
				if !slices.Contains(vs, verb) {
					t.Errorf("README: %q runs `cis490 %s %s`; %s has %s", line, cmd, verb, cmd, strings.Join(vs, ", "))
					continue
				}
				path = append(path, verb)
			}
			help := helpOf(t, path...)
			for _, m := range flagRE.FindAllStringSubmatch(rest, -1) {
				if !definesFlag(help, m[1]) {
					t.Errorf("README: %q gives `cis490 %s` --%s, which it does not define", line, strings.Join(path, " "), m[1])
				}
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("checked only %d command lines of the README; is the parser still finding them?", checked)
	}
}

// TestREADMEGoVersion: the README asks for the Go go.mod requires.
func TestREADMEGoVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	got := regexp.MustCompile(`Go (\S+) or newer`).FindSubmatch(readme)
	if want == nil || got == nil || string(got[1]) != string(want[1]) {
		t.Errorf("README asks for Go %q, go.mod for %q", got, want)
	}
}

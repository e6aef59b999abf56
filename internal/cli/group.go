package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/cis490/cis490/internal/human"
)

// subcommand is one verb of a command group such as `ca` or `token`; the
// group's table is the one place its verbs are named, so its help, its
// dispatch and its "say …" hint cannot disagree.
type subcommand struct {
	name    string
	summary string // one line, for `cis490 help GROUP`
	run     func(ctx context.Context, env *Env, args []string) error
}

// runGroup runs the subcommand args[0] names. Alone, the group names its
// verbs; -h, --help or help lists them with one line each.
func runGroup(ctx context.Context, env *Env, group string, subs []subcommand, args []string) error {
	if len(args) == 0 {
		return usagef("say %s", sayList(group, subs))
	}
	verb := args[0]
	switch verb {
	case "-h", "--help", "help":
		printGroup(env.Stdout, group, subs)
		return nil
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		if s.name == verb {
			return s.run(ctx, env, args[1:])
		}
		names[i] = s.name
	}
	if near := human.Nearest(verb, names); near != "" {
		return usagef("unknown %s command %q; did you mean `%s %s`?", group, verb, group, near)
	}
	return usagef("unknown %s command %q; say %s", group, verb, sayList(group, subs))
}

// sayList is "`ca init`, `ca issue` or `ca revoke`".
func sayList(group string, subs []subcommand) string {
	quoted := make([]string, len(subs))
	for i, s := range subs {
		quoted[i] = "`" + group + " " + s.name + "`"
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

func printGroup(w io.Writer, group string, subs []subcommand) {
	fmt.Fprintf(w, "usage: cis490 %s <command> [flags]\n\ncommands:\n", group)
	width := 0
	for _, s := range subs {
		width = max(width, len(s.name))
	}
	for _, s := range subs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, s.name, s.summary)
	}
	fmt.Fprintf(w, "\n`cis490 help %s %s` (or `cis490 %s %s -h`) shows a command's flags.\n", group, subs[0].name, group, subs[0].name)
}

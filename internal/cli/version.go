package cli

import (
	"context"
	"fmt"

	"github.com/cis490/cis490/internal/buildinfo"
)

func runVersion(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "version", "", "Prints the version and the full code commit (the X-Cis490-Code-Commit stamp).")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	bi := buildinfo.Read()
	commit := bi.Commit
	if commit == "" {
		commit = "unknown (built without VCS info: use go build -buildvcs=true)"
	} else if bi.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(env.Stdout, "cis490 %s\ncommit %s\n%s\n", bi.Version, commit, bi.Go)
	return nil
}

package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/trust"
)

func runHost(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "remove" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "usage: cis490 host remove NAME [--config receiver.toml]")
			return nil
		}
		return usagef("say `host remove NAME`")
	}
	fs := newFlags(env, "host remove", "NAME [--config receiver.toml]",
		`Takes a host out of the fleet: revokes its tokens and every certificate the CA
issued it (the receiver refuses them at once, even on open connections), and
the fleet-health detector stops watching it. Enrolling it again brings it back.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:] // the name may come before the flags
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if name == "" {
		return usagef("give the host name: host remove NAME")
	}
	host, err := names.Host(name)
	if err != nil {
		return usagef("%q: %v", name, err)
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	now := time.Now()
	// Marked removed under the trust lock: an enrollment racing this
	// tells the detector the host is back either before or after, never
	// between the revocation and the mark.
	toks, certs, err := trust.Local(cfg.DataDir).RevokeHost(host, "removed", now, func() error {
		return fleethealth.RemovedFile(datadir.Dir(cfg.DataDir)).Mark(host, now)
	})
	if err != nil {
		return err
	}
	sameOwnerAsData(cfg.DataDir)
	fmt.Fprintf(env.Stdout, "removed %s: %d token(s) and %d certificate(s) revoked; fleet-health no longer watches it\n", host, toks, certs)
	return nil
}

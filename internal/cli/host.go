package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receiver"
	"github.com/cis490/cis490/internal/token"
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
	n, err := removeHost(cfg.DataDir, host, "removed", time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "removed %s: %d token(s) and %d certificate(s) revoked; fleet-health no longer watches it\n", host, n.tokens, n.certs)
	return nil
}

type revokedCount struct{ tokens, certs int }

// removeHost revokes host's tokens and certificates and stops the
// detector watching it.
func removeHost(data, host, why string, now time.Time) (revokedCount, error) {
	var n revokedCount
	var err error
	if n.tokens, err = token.RevokeName(receiver.TokensPath(data), token.KindHost, host); err != nil {
		return n, err
	}
	issued, err := pki.IssuedTo(receiver.IssuedPath(data), host)
	if err != nil {
		return n, fmt.Errorf("read the CA's ledger: %w", err)
	}
	var rev []pki.Revoked
	for _, c := range issued {
		if c.Kind == token.KindHost {
			rev = append(rev, pki.Revoked{Serial: c.Serial, Host: host, At: now.UTC(), Why: why})
		}
	}
	if len(rev) > 0 {
		if err := pki.Revoke(receiver.RevokedPath(data), rev...); err != nil {
			return n, fmt.Errorf("write the revocation list: %w", err)
		}
	}
	n.certs = len(rev)
	return n, fleethealth.MarkRemoved(data, host, now)
}

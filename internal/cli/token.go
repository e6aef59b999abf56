package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/vfs"
)

func runToken(ctx context.Context, env *Env, args []string) error {
	return runGroup(ctx, env, "token", []subcommand{
		{"create", "make a join token for one host (--host NAME) or a room (--hosts PATTERN --uses N)", tokenCreate},
		{"revoke", "revoke a join token by the id `token create` printed", tokenRevoke},
	}, args)
}

func tokenCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "token create", "--host NAME | --hosts PATTERN --uses N [--ttl 24h] [--config receiver.toml]",
		`Makes a join token: one host, or a room of imaged machines (--hosts 'lab-1??'
--uses 40: each name enrolls once). Only its hash is stored. Give it to the host
in a file or on standard input, never on a command line:
  cis490 enroll --receiver URL --host NAME --token-file FILE`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	host := fs.String("host", "", "the one host the token enrolls")
	pattern := fs.String("hosts", "", "a pattern of host names (lab-1??, room-b-*)")
	uses := fs.Int("uses", 0, "with --hosts: how many hosts may enroll")
	ttl := durationVar(fs, "ttl", 24*time.Hour, "how long the token works")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case (*host == "") == (*pattern == ""):
		return usagef("give exactly one of --host NAME or --hosts PATTERN")
	case *pattern != "" && *uses < 1:
		return usagef("--hosts needs --uses N: how many machines may enroll with it")
	case *ttl <= 0 || *ttl > 30*24*time.Hour:
		return usagef("--ttl %s: give a duration up to 720h", *ttl)
	}
	bound, n := *pattern, *uses
	if *host != "" {
		canon, err := names.Host(*host)
		if err != nil {
			return usagef("%q: %v", *host, err)
		}
		bound, n = canon, 1
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	ca, err := pki.LoadCert(cfg.TLS.CA)
	if err != nil {
		return err
	}
	now := time.Now()
	_, tokens, done, err := trustOf(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer done()
	var tok string
	err = vfs.AsOwnerOf(cfg.DataDir, func() (err error) {
		tok, err = tokens.AddJoin(pki.FingerprintOf(ca), bound, n, now.Add(*ttl), now)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", tok)
	fmt.Fprintf(env.Stderr, "join token %s for %s (%d use(s)), valid until %s; revoke with `cis490 token revoke %s`\n",
		token.ID(tok), bound, n, now.Add(*ttl).UTC().Format(time.RFC3339), token.ID(tok))
	return nil
}

func tokenRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "token revoke", "ID [--config receiver.toml]", "Revokes a join token by the id `token create` printed.")
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	rest := args
	var id string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		id, rest = rest[0], rest[1:]
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if len(id) < 12 {
		return usagef("give the token's id (12 hex digits, as token create printed)")
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	_, tokens, done, err := trustOf(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer done()
	var ok bool
	err = vfs.AsOwnerOf(cfg.DataDir, func() (err error) {
		ok, err = tokens.RevokeID(id)
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no token with id %s (or it was revoked already)", id)
	}
	fmt.Fprintf(env.Stdout, "revoked token %s\n", id)
	return nil
}

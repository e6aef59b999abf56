package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/vfs"
)

func runHost(ctx context.Context, env *Env, args []string) error {
	return runGroup(ctx, env, "host", []subcommand{
		{"remove", "revoke a host's tokens and certificates and stop watching it (NAME)", runHostRemove},
	}, args)
}

func runHostRemove(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "host remove", "NAME [--config receiver.toml]",
		`Takes a host out of the fleet: revokes its tokens and every certificate the CA
issued it (the receiver refuses them at once, even on open connections), and
the fleet-health detector stops watching it. Enrolling it again brings it back.`)
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	rest := args
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
	// Removals live where [storage] keeps the receiver's state.
	state, closeState, err := receiverd.OpenState(ctx, cfg, env.Log)
	if err != nil {
		return err
	}
	defer closeState()
	now := time.Now()
	// Marked removed under the trust lock: an enrollment racing this
	// tells the detector the host is back either before or after, never
	// between the revocation and the mark.
	var toks, certs int
	err = changeTrust(ctx, env, cfg, func(ctx context.Context, t *trust.Trust) (err error) {
		toks, certs, err = t.RevokeHost(ctx, host, "removed", now, func() error {
			return state.Removals.Mark(host, now)
		})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "removed %s: %d token(s) and %d certificate(s) revoked; fleet-health no longer watches it\n", host, toks, certs)
	return nil
}

// adminLockWait is how long an admin command waits for the trust lock:
// far longer than a receiver's request would (an operator can wait while
// the receiver works through a burst of enrollments), but not forever
// behind a stuck process.
const adminLockWait = 2 * time.Minute

// changeTrust runs change over data_dir's trust as data_dir's owner (see
// vfs.AsOwnerOf), saying on stderr whom it waits on when the trust lock is
// busy, and giving up after adminLockWait with a sentence naming the
// holder.
func changeTrust(ctx context.Context, env *Env, cfg *config.Receiver, change func(context.Context, *trust.Trust) error) error {
	ctx, cancel := context.WithTimeout(ctx, adminLockWait)
	defer cancel()
	t, _, done, err := trustOf(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer done()
	t.Waiting(func(holder string) {
		fmt.Fprintf(env.Stderr, "waiting for the trust lock, held by %s\n", cmp.Or(holder, "another cis490 process"))
	})
	err = vfs.AsOwnerOf(cfg.DataDir, func() error { return change(ctx, t) })
	var busy *trust.BusyError
	if errors.As(err, &busy) {
		return fmt.Errorf("the trust lock stayed held by %s for %s; nothing was changed: run this again, or stop that process if it is stuck",
			cmp.Or(busy.Holder, "another cis490 process"), adminLockWait)
	}
	return err
}

// trustOf is the trust cfg names: the files in data_dir, or the database
// of [storage] backend = "postgres+s3" (opened here; done closes it), so
// every receiver on it sees the change within seconds.
func trustOf(ctx context.Context, env *Env, cfg *config.Receiver) (t *trust.Trust, tokens token.State, done func(), err error) {
	if !cfg.Storage.Shared() {
		return trust.Local(cfg.DataDir), token.Files(datadir.Dir(cfg.DataDir).Tokens()), func() {}, nil
	}
	b, err := receiverd.OpenShared(ctx, cfg, env.Log)
	if err != nil {
		return nil, nil, nil, err
	}
	toks, err := b.Tokens(ctx)
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	return trust.New(b.Trust(), toks), toks, func() { b.Close() }, nil
}

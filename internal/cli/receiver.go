package cli

import (
	"context"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/receiverd"
)

func runReceiver(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "receiver", "[--config receiver.toml]",
		"Serves the HTTPS API until SIGTERM or SIGINT, then finishes in-flight requests and exits 0.")
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	return receiverd.Run(ctx, cfg, nil, env.Log, nil)
}

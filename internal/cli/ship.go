package cli

import (
	"context"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/shipper"
	"github.com/cis490/cis490/internal/transport"
)

func runShip(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ship", "[--config lab-host.toml]",
		"Ships every configured source to the receiver until SIGTERM or SIGINT; says `shutdown` to the\nreceiver when the machine itself is going down.")
	path := fs.String("config", config.DefaultLabHostPath, "lab host config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.LoadLabHost(*path)
	if err != nil {
		return err
	}
	topt := transport.FromConfig(cfg)
	topt.Log = env.Log.With("component", "transport")
	client, err := transport.New(topt)
	if err != nil {
		return err
	}
	defer client.Close()
	sh, err := shipper.New(shipper.Options{Config: cfg, Client: client, Log: env.Log.With("component", "shipper")})
	if err != nil {
		return err
	}
	env.Log.Info("shipping", "receiver", cfg.Receiver, "host", cfg.Host, "sources", len(cfg.Sources), "journals", len(cfg.Journals))
	return sh.Run(ctx)
}

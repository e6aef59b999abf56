package cli

import (
	"context"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

func runHeartbeat(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "heartbeat", "[--config lab-host.toml] [--state up|shutdown|sleep]",
		"Tells the receiver this host is up, shutting down or going to sleep. The systemd sleep hook\n(deploy/system-sleep/cis490) runs it with --state sleep, so a closed laptop lid is not a sick host.")
	path := fs.String("config", config.DefaultLabHostPath, "lab host config file")
	state := fs.String("state", wire.StateUp, "up, shutdown or sleep")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch *state {
	case wire.StateUp, wire.StateShutdown, wire.StateSleep:
	default:
		return usagef("--state %q: say up, shutdown or sleep", *state)
	}
	cfg, err := config.LoadLabHost(*path)
	if err != nil {
		return err
	}
	client, err := transport.New(transport.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer client.Close()
	return client.Heartbeat(ctx, *state)
}

package cli

import (
	"context"
	"time"

	"github.com/cis490/cis490/internal/demo"
)

func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "[--dir DIR] [--duration 20s]",
		"Runs a real receiver with a throwaway CA on 127.0.0.1 and simulated lab hosts shipping to it over mutual TLS.")
	dir := fs.String("dir", "", "folder for the demo's CA and data (default: a new temporary folder)")
	dur := fs.Duration("duration", 20*time.Second, "how long the simulated hosts ship")
	if err := parse(fs, args); err != nil {
		return err
	}
	return demo.Run(ctx, demo.Options{Dir: *dir, Duration: *dur, Out: env.Stdout, Log: env.Log})
}

package cli

import (
	"context"

	"github.com/cis490/cis490/internal/demo"
)

func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "[--dir DIR] [--duration D]",
		"Runs a real receiver with a throwaway CA on 127.0.0.1 and simulated lab hosts shipping to it\nthrough the real shipper over mutual TLS, until Ctrl-C (or --duration).")
	dir := fs.String("dir", "", "folder for the demo's CA and data (default: a new temporary folder)")
	dur := durationVar(fs, "duration", 0, "stop after this long (default: run until Ctrl-C)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return demo.Run(ctx, demo.Options{Dir: *dir, Duration: *dur, Out: env.Stdout, Log: env.Log})
}

package cli

import "context"

func runDemo(ctx context.Context, env *Env, args []string) error  { return usagef("not yet") }
func runBench(ctx context.Context, env *Env, args []string) error { return usagef("not yet") }

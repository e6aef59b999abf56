// Command cis490 is the fleet log shipper: one binary for the receiver, the
// lab hosts and the operator. See `cis490 help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cis490/cis490/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

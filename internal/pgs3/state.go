package pgs3

import (
	"context"
	"time"
)

// callTimeout bounds one call of the small state's stores (host health,
// releases' rows, sessions, removals) and of the trust state. Their
// interfaces take no context, as the files under data_dir needed none:
// each call's context is derived from the backend's lifetime, so Close
// ends it, and bounded, so a database that stopped answering fails the
// call instead of hanging the request or the command behind it.
const callTimeout = 30 * time.Second

// transferTimeout bounds moving one release file's bytes to or from the
// bucket: binaries are tens of MiB.
const transferTimeout = 10 * time.Minute

// call is the context of one call without a context of its own.
func (b *Backend) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.life, callTimeout)
}

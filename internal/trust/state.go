package trust

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/vfs"
)

// State is what trust keeps besides the tokens: the CA's ledger of issued
// certificates, the revocation list and the lock that serialises changes
// to them. Files keeps it under data_dir; a shared database would be a
// second implementation, the CA's private key staying a local file.
type State interface {
	// Lock holds off every other change to trust, in this process and
	// others (the receiver and the admin commands), until unlock. When ctx
	// ends first it returns a *BusyError, and a waiter holds no OS thread
	// while it waits: a receiver queues many requests behind one holder.
	Lock(ctx context.Context) (unlock func(), err error)
	// Record adds a certificate the CA signed to the ledger, durably.
	Record(c pki.Issued) error
	// IssuedTo lists the ledger's certificates for name, oldest first.
	IssuedTo(name string) ([]pki.Issued, error)
	// Ledger lists every certificate in the ledger, oldest first.
	Ledger() ([]pki.Issued, error)
	// Revoke adds entries to the revocation list; a serial already on it
	// is kept as it was.
	Revoke(entries ...pki.Revoked) error
}

// BusyError: the trust lock did not come free before the caller's
// deadline. Nothing was changed.
type BusyError struct {
	// Holder says who holds the lock, as far as known ("" if not).
	Holder string
	err    error
}

// Busy is the BusyError of a State whose lock did not come free: holder
// as far as known, err why the wait ended (the context's cause).
func Busy(holder string, err error) *BusyError { return &BusyError{Holder: holder, err: err} }

func (e *BusyError) Error() string {
	return fmt.Sprintf("the trust lock is held by %s: %v", cmp.Or(e.Holder, "another change to the fleet's credentials"), e.err)
}

func (e *BusyError) Unwrap() error { return e.err }

// Files is State in the files under data_dir every receiver has used:
// ca/issued.jsonl, revoked.json and ca/trust.lock. One Files value is
// meant to serve a whole process: its waiters queue on it in memory, and
// only the one at the head of the queue tries the file lock.
func Files(d datadir.Dir) State { return &files{d: d, turn: make(chan struct{}, 1)} }

type files struct {
	d datadir.Dir
	// turn is this process's queue for the file lock: whoever holds it
	// is the only goroutine polling the flock.
	turn chan struct{}
}

func (f *files) Lock(ctx context.Context) (func(), error) {
	path := f.d.TrustLock()
	select {
	case f.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, &BusyError{Holder: vfs.LockHolder(path), err: context.Cause(ctx)}
	}
	unlock, err := vfs.LockContext(ctx, path, 0o640, holder())
	if err != nil {
		<-f.turn
		if ctx.Err() != nil {
			return nil, &BusyError{Holder: vfs.LockHolder(path), err: err}
		}
		return nil, err
	}
	return func() {
		unlock()
		<-f.turn
	}, nil
}

// holder names this process for a waiter on the trust lock: the command
// and its process id, so an operator knows what to wait for or stop.
func holder() string {
	cmd := strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " ")
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	return fmt.Sprintf("%q (pid %d)", cmd, os.Getpid())
}

func (f *files) Record(c pki.Issued) error { return pki.Record(f.d.Issued(), c) }

func (f *files) IssuedTo(name string) ([]pki.Issued, error) { return pki.IssuedTo(f.d.Issued(), name) }

func (f *files) Ledger() ([]pki.Issued, error) { return pki.Ledger(f.d.Issued()) }

func (f *files) Revoke(entries ...pki.Revoked) error { return pki.Revoke(f.d.Revoked(), entries...) }

// Package trusttest holds every trust.State to the same promises: each
// case runs against two states over one store, as two receivers (or a
// receiver and an admin command) share one.
package trusttest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/trust"
)

// Bound is how soon a revocation made through one state must show in the
// other side's revocation list.
const Bound = 3 * time.Second

// Stores are two states over one fresh, empty store, and the revocation
// list a receiver on it checks requests against.
type Stores struct {
	A, B    trust.State
	Revoked pki.RevocationList
}

// Run runs every case against the stores open makes.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s Stores)
	}{
		{"Lock", lock},
		{"Ledger", ledger},
		{"Revoke", revoke},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// busy takes s's lock with a short deadline and wants a *BusyError.
func busy(t *testing.T, s trust.State, who string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	unlock, err := s.Lock(ctx)
	var be *trust.BusyError
	if err == nil {
		unlock()
		t.Fatalf("%s took the lock while it was held", who)
	}
	if !errors.As(err, &be) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: %v, want a *trust.BusyError for the deadline", who, err)
	}
	if be.Holder == "" {
		t.Fatalf("%s: %v names no holder", who, err)
	}
}

// lock: held through one state, the lock holds off the other and a second
// taker in the same process until unlock, and a waiter gets it then.
func lock(t *testing.T, s Stores) {
	unlock, err := s.A.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	busy(t, s.B, "the other state")
	busy(t, s.A, "a second taker in this process")
	got := make(chan func(), 1)
	go func() {
		u, err := s.B.Lock(t.Context())
		if err != nil {
			t.Error(err)
			u = func() {}
		}
		got <- u
	}()
	select {
	case u := <-got:
		u()
		t.Fatal("the waiter took the lock while it was held")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	var unlockB func()
	select {
	case unlockB = <-got:
	case <-time.After(Bound):
		t.Fatalf("the waiter did not get the lock within %v of its release", Bound)
	}
	busy(t, s.A, "the first state after the waiter took it")
	unlockB()
	ctx, cancel := context.WithTimeout(t.Context(), Bound)
	defer cancel()
	u, err := s.A.Lock(ctx)
	if err != nil {
		t.Fatalf("the lock after both unlocked: %v", err)
	}
	u()
}

// ledger: what one state records, the other lists, oldest first.
func ledger(t *testing.T, s Stores) {
	now := time.Now().UTC().Truncate(time.Second)
	recs := []pki.Issued{
		{Serial: "01", Kind: "host", Name: "lab-1", NotAfter: now.Add(time.Hour), At: now},
		{Serial: "02", Kind: "admin", Name: "alice", NotAfter: now.Add(2 * time.Hour), At: now.Add(time.Second)},
		{Serial: "03", Kind: "host", Name: "lab-1", NotAfter: now.Add(3 * time.Hour), At: now.Add(2 * time.Second)},
	}
	if got, err := s.B.Ledger(); err != nil || len(got) != 0 {
		t.Fatalf("an empty ledger: %v %v", got, err)
	}
	for _, c := range recs {
		if err := s.A.Record(c); err != nil {
			t.Fatal(err)
		}
	}
	same := func(a, b pki.Issued) bool {
		return a.Serial == b.Serial && a.Kind == b.Kind && a.Name == b.Name && a.NotAfter.Equal(b.NotAfter) && a.At.Equal(b.At)
	}
	all, err := s.B.Ledger()
	if err != nil || !slices.EqualFunc(all, recs, same) {
		t.Fatalf("Ledger = %+v, %v; want %+v", all, err, recs)
	}
	mine, err := s.B.IssuedTo("lab-1")
	if err != nil || !slices.EqualFunc(mine, []pki.Issued{recs[0], recs[2]}, same) {
		t.Fatalf("IssuedTo(lab-1) = %+v, %v", mine, err)
	}
	if none, err := s.B.IssuedTo("lab-2"); err != nil || len(none) != 0 {
		t.Fatalf("IssuedTo(lab-2) = %+v, %v", none, err)
	}
}

// revoke: serials revoked through either state reach the revocation list
// within Bound; revoking one again is harmless.
func revoke(t *testing.T, s Stores) {
	now := time.Now().UTC()
	if err := s.A.Revoke(pki.Revoked{Serial: "0a", Host: "lab-1", At: now, Why: "removed"}, pki.Revoked{Serial: "0b", Host: "lab-1", At: now, Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if err := s.B.Revoke(pki.Revoked{Serial: "0a", Host: "lab-1", At: now, Why: "again"}, pki.Revoked{Serial: "0c", Host: "lab-2", At: now, Why: "renewed"}); err != nil {
		t.Fatal(err)
	}
	if err := s.B.Revoke(); err != nil {
		t.Fatalf("revoking nothing: %v", err)
	}
	for end := time.Now().Add(Bound); !(s.Revoked.HasSerial("0a") && s.Revoked.HasSerial("0b") && s.Revoked.HasSerial("0c")); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the revocations are not on the list within %v", Bound)
		}
	}
	if s.Revoked.HasSerial("0d") {
		t.Fatal("a serial never revoked is on the list")
	}
}

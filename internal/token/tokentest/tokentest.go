// Package tokentest holds every token.State to the same promises: each
// case runs against two states over one store, as two receivers (or a
// receiver and an admin command) share one.
package tokentest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/token"
)

// Bound is how soon a change made through one state must show in the
// other's lookups.
const Bound = 3 * time.Second

// Open returns two states over one fresh, empty store.
type Open func(t *testing.T) (a, b token.State)

var fingerprint = strings.Repeat("ab", 32)

// Run runs every case against the states open makes.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, a, b token.State)
	}{
		{"AddLookup", addLookup},
		{"Revoke", revoke},
		{"JoinUses", joinUses},
		{"JoinRefusals", joinRefusals},
		{"JoinPruned", joinPruned},
		{"ConsumeJoinRace", consumeRace},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := open(t)
			c.run(t, a, b)
		})
	}
}

// eventually waits up to Bound for ok, failing with what otherwise.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(Bound); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", Bound, what)
		}
	}
}

func addLookup(t *testing.T, a, b token.State) {
	now := time.Now()
	host, err := a.Add(token.KindHost, "lab-1", now)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := a.Add(token.KindAdmin, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if host == admin {
		t.Fatal("two tokens are equal")
	}
	// Made a moment ago elsewhere: found at once (a host enrolled through
	// one receiver comes to the other next).
	for _, s := range []token.State{a, b} {
		if e, ok := s.Lookup(host); !ok || e.Kind != token.KindHost || e.Name != "lab-1" {
			t.Fatalf("Lookup(host token) = %+v, %v", e, ok)
		}
		if e, ok := s.LookupSum(token.Sum(admin)); !ok || e.Kind != token.KindAdmin || e.Name != "alice" {
			t.Fatalf("LookupSum(admin token) = %+v, %v", e, ok)
		}
	}
	join, err := a.AddJoin(fingerprint, "lab-2", 1, now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "c490_", host + "x", host[:len(host)-1], strings.ToUpper(host), "Bearer " + host, strings.TrimPrefix(host, "c490_"), join} {
		if _, ok := b.Lookup(bad); ok {
			t.Errorf("Lookup(%q) matched", bad)
		}
	}
	if err := b.CheckJoin(host, now); !errors.Is(err, token.ErrJoinUnknown) {
		t.Errorf("a bearer token as a join token: %v", err)
	}
}

func revoke(t *testing.T, a, b token.State) {
	now := time.Now()
	h1, _ := a.Add(token.KindHost, "lab-1", now)
	h2, _ := a.Add(token.KindHost, "lab-1", now)
	other, _ := a.Add(token.KindHost, "lab-2", now)
	admin, _ := a.Add(token.KindAdmin, "lab-1", now)
	for _, tok := range []string{h1, h2, other, admin} {
		if _, ok := b.Lookup(tok); !ok {
			t.Fatal("a new token is not found")
		}
	}
	if n, err := a.RevokeName(token.KindHost, "lab-1"); err != nil || n != 2 {
		t.Fatalf("RevokeName = %d, %v; want 2", n, err)
	}
	if n, err := a.RevokeName(token.KindHost, "lab-1"); err != nil || n != 0 {
		t.Fatalf("RevokeName again = %d, %v; want 0", n, err)
	}
	eventually(t, "the revoked tokens are refused", func() bool {
		_, ok1 := b.Lookup(h1)
		_, ok2 := b.Lookup(h2)
		return !ok1 && !ok2
	})
	if _, ok := b.Lookup(other); !ok {
		t.Fatal("revoking one host's tokens broke another's")
	}
	if _, ok := b.Lookup(admin); !ok {
		t.Fatal("revoking a host's tokens broke an admin's of the same name")
	}
	id := token.ID(other)
	if ok, err := a.RevokeID(id[:11]); err != nil || ok {
		t.Fatalf("RevokeID(11 digits) = %v, %v", ok, err)
	}
	if ok, err := a.RevokeID(strings.ToUpper(id)); err != nil || !ok {
		t.Fatalf("RevokeID = %v, %v", ok, err)
	}
	if ok, err := a.RevokeID(id); err != nil || ok {
		t.Fatalf("RevokeID again = %v, %v", ok, err)
	}
	eventually(t, "the token revoked by id is refused", func() bool {
		_, ok := b.LookupSum(token.Sum(other))
		return !ok
	})
}

func joinUses(t *testing.T, a, b token.State) {
	now := time.Now()
	tok, err := a.AddJoin(fingerprint, "LAB-1??", 2, now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if fp, ok := token.JoinFingerprint(tok); !ok || fp != fingerprint {
		t.Fatalf("JoinFingerprint = %q, %v", fp, ok)
	}
	if err := b.CheckJoin(" "+tok+"\n", now); err != nil {
		t.Fatalf("CheckJoin(new token) = %v", err)
	}
	steps := []struct {
		state token.State
		host  string
		want  error
	}{
		{a, "lab-101", nil},
		{b, "lab-101", token.ErrJoinUsed}, // each name once
		{b, "lab-2", token.ErrJoinHost},
		{b, "lab-102", nil},
		{a, "lab-103", token.ErrJoinUsed}, // two uses
	}
	for _, s := range steps {
		if err := s.state.ConsumeJoin(tok, s.host, now); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Fatalf("ConsumeJoin(%s) = %v, want %v", s.host, err, s.want)
		}
	}
	// CheckJoin is only a cheap early check (the token file's answers
	// from memory until it misses), so ConsumeJoin alone is held to it.
	if err := b.ReleaseJoin(tok, "lab-102"); err != nil {
		t.Fatal(err)
	}
	if err := a.ConsumeJoin(tok, "lab-103", now); err != nil {
		t.Fatalf("after a use was given back: %v", err)
	}
}

func joinRefusals(t *testing.T, a, b token.State) {
	now := time.Now()
	expired, _ := a.AddJoin(fingerprint, "lab-1", 1, now.Add(-time.Minute), now.Add(-time.Hour))
	room, _ := a.AddJoin(fingerprint, "lab-*", 5, now.Add(time.Hour), now)
	single, _ := a.AddJoin(fingerprint, "lab-5", 1, now.Add(time.Hour), now)
	revoked, _ := a.AddJoin(fingerprint, "lab-6", 1, now.Add(time.Hour), now)
	if n, err := a.RevokeName(token.KindJoin, "lab-6"); n != 1 || err != nil {
		t.Fatalf("revoke a join token: %d %v", n, err)
	}
	if _, err := a.Add(token.KindHost, "lab-5", now); err != nil {
		t.Fatal(err)
	}
	unknown, _ := token.NewJoin(fingerprint)
	for _, c := range []struct {
		name, tok, host string
		check, consume  error
	}{
		{"expired", expired, "lab-1", token.ErrJoinExpired, token.ErrJoinExpired},
		{"unknown", unknown, "lab-1", token.ErrJoinUnknown, token.ErrJoinUnknown},
		{"revoked", revoked, "lab-6", token.ErrJoinUnknown, token.ErrJoinUnknown},
		{"not a join token", "c490_x", "lab-1", token.ErrJoinUnknown, token.ErrJoinUnknown},
		{"a room token on an enrolled host", room, "lab-5", nil, token.ErrJoinLive},
		{"a host's own token on it", single, "lab-5", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			eventually(t, fmt.Sprintf("CheckJoin says %v", c.check), func() bool {
				err := b.CheckJoin(c.tok, now)
				return errors.Is(err, c.check) && (c.check == nil) == (err == nil)
			})
			if err := b.ConsumeJoin(c.tok, c.host, now); !errors.Is(err, c.consume) || (c.consume == nil) != (err == nil) {
				t.Fatalf("ConsumeJoin = %v, want %v", err, c.consume)
			}
		})
	}
}

// joinPruned: a join token expired a week ago is dropped when the next
// one is made; one expired lately still says "expired".
func joinPruned(t *testing.T, a, b token.State) {
	now := time.Now()
	long, _ := a.AddJoin(fingerprint, "lab-1", 1, now.Add(-8*24*time.Hour), now.Add(-9*24*time.Hour))
	lately, _ := a.AddJoin(fingerprint, "lab-2", 1, now.Add(-time.Hour), now.Add(-2*time.Hour))
	if _, err := b.AddJoin(fingerprint, "lab-3", 1, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := a.ConsumeJoin(long, "lab-1", now); !errors.Is(err, token.ErrJoinUnknown) {
		t.Fatalf("the pruned token: %v", err)
	}
	if err := a.ConsumeJoin(lately, "lab-2", now); !errors.Is(err, token.ErrJoinExpired) {
		t.Fatalf("the token expired lately: %v", err)
	}
}

// consumeRace: hosts racing through both states for a token's uses get
// exactly the uses it allows.
func consumeRace(t *testing.T, a, b token.State) {
	const uses, hosts = 3, 16
	now := time.Now()
	tok, err := a.AddJoin(fingerprint, "race-*", uses, now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, hosts)
	for i := range hosts {
		s := []token.State{a, b}[i%2]
		wg.Go(func() { errs[i] = s.ConsumeJoin(tok, fmt.Sprintf("race-%d", i), now) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, token.ErrJoinUsed):
			t.Errorf("host %d: %v", i, err)
		}
	}
	if won != uses {
		t.Fatalf("%d hosts enrolled with a token of %d uses", won, uses)
	}
}

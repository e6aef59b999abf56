package pgs3_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/token/tokentest"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/trust/trusttest"
)

// twoReceivers are two backends on one database and bucket.
func twoReceivers(t *testing.T) (a, b *pgs3.Backend, dsn string) {
	t.Helper()
	dsn, s3 := servers(t)
	a = open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	b = open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	return a, b, dsn
}

func tokens(t *testing.T, b *pgs3.Backend) *pgs3.Tokens {
	t.Helper()
	s, err := b.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokensConformance holds the tokens table to token.State's promises,
// through two receivers on one database.
func TestTokensConformance(t *testing.T) {
	tokentest.Run(t, func(t *testing.T) (token.State, token.State) {
		a, b, _ := twoReceivers(t)
		return tokens(t, a), tokens(t, b)
	})
}

// TestTrustConformance holds the ledger, the revocation list and the
// trust lock to trust.State's promises, through two receivers.
func TestTrustConformance(t *testing.T) {
	trusttest.Run(t, func(t *testing.T) trusttest.Stores {
		a, b, _ := twoReceivers(t)
		rev, err := b.Revocations(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return trusttest.Stores{A: a.Trust(), B: b.Trust(), Revoked: rev}
	})
}

// TestTokensStoredHashed: no token, nor its secret part, is in the
// database; and a token another receiver made is found at once.
func TestTokensStoredHashed(t *testing.T) {
	a, b, dsn := twoReceivers(t)
	now := time.Now()
	host, _ := tokens(t, a).Add(token.KindHost, "lab-1", now)
	join, _ := tokens(t, a).AddJoin(strings.Repeat("ab", 32), "lab-2", 1, now.Add(time.Hour), now)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var dump string
	if err := conn.QueryRow(t.Context(), `SELECT string_agg(t::text, ' ') FROM tokens t`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{host, join} {
		secret := tok[strings.LastIndex(tok, "_")+1:]
		if strings.Contains(dump, secret) {
			t.Fatalf("the tokens table holds a token itself: %s", dump)
		}
	}
	if _, ok := tokens(t, b).Lookup(host); !ok {
		t.Fatal("a token made on the other receiver is refused")
	}
	// CheckJoin, from memory, follows the uses spent on another receiver.
	if err := tokens(t, b).CheckJoin(join, now); err != nil {
		t.Fatal(err)
	}
	if err := tokens(t, a).ConsumeJoin(join, "lab-2", now); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for !errors.Is(tokens(t, b).CheckJoin(join, now), token.ErrJoinUsed) {
		if time.Since(start) > 3*time.Second {
			t.Fatal("the other receiver's CheckJoin still offers the spent use")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the spent use reached the other receiver's memory in %v", time.Since(start))
}

// TestRevocationReachesOtherReceiver: a token revoked through one
// receiver, or a certificate revoked through an admin command's backend,
// stops working on the other within the refresh bound (2 s).
func TestRevocationReachesOtherReceiver(t *testing.T) {
	a, b, _ := twoReceivers(t)
	tok, _ := tokens(t, a).Add(token.KindHost, "lab-1", time.Now())
	if _, ok := tokens(t, b).Lookup(tok); !ok {
		t.Fatal("not found before the revocation")
	}
	rev, err := b.Revocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := tokens(t, a).RevokeName(token.KindHost, "lab-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Trust().Revoke(pki.Revoked{Serial: "0f", Host: "lab-1", At: time.Now(), Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	for {
		_, ok := tokens(t, b).Lookup(tok)
		if !ok && rev.HasSerial("0f") {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("after %v: token works %v, certificate revoked %v", time.Since(start), ok, rev.HasSerial("0f"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocations reached the other receiver in %v", time.Since(start))
}

// TestTrustLockClose: a waiter for the trust lock ends when its backend
// closes (Close does not wait for the holder elsewhere to unlock).
func TestTrustLockClose(t *testing.T) {
	dsn, s3 := servers(t)
	a := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	b, err := pgs3.Open(t.Context(), pgs3.Options{Postgres: dsn, S3: s3Of(s3)})
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := a.Trust().Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Trust().Lock(t.Context())
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	go b.Close()
	select {
	case err := <-done:
		var busy *trust.BusyError
		if err == nil || errors.As(err, &busy) {
			t.Fatalf("a waiter on a closed backend: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the backend left its waiter waiting")
	}
	unlock()
}

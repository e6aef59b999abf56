package token

import "time"

// State keeps the bearer tokens, only ever as their SHA-256, and answers
// who a presented token belongs to. Set keeps them in data_dir's token
// file; a shared database would be a second implementation, so that any
// receiver knows a token another one (or `cis490 ca issue`) made.
//
// A lookup finds a token by its hash and compares the stored hash in
// constant time; revoked tokens are never found.
type State interface {
	// Lookup is the entry a presented bearer token belongs to.
	Lookup(tok string) (Entry, bool)
	// LookupSum is Lookup by the token's Sum, for a holder of only the sum.
	LookupSum(sum [32]byte) (Entry, bool)
	// CheckJoin is a cheap check, made before the request's body is read
	// and before the locked ConsumeJoin, that tok is a known, unrevoked,
	// unexpired join token with a use left: ErrJoinUnknown, ErrJoinExpired
	// or ErrJoinUsed otherwise. ConsumeJoin decides.
	CheckJoin(tok string, now time.Time) error

	// Add makes a token for (kind, name), stores its hash and returns the
	// token, which is shown once.
	Add(kind, name string, now time.Time) (string, error)
	// AddJoin stores a join token for the hosts pattern matches, for uses
	// hosts, until expires.
	AddJoin(caFingerprint, pattern string, uses int, expires, now time.Time) (string, error)
	// ConsumeJoin checks a join token for host and records the use, atomically
	// against every other change, so two hosts cannot take one last use.
	ConsumeJoin(tok, host string, now time.Time) error
	// ReleaseJoin gives back the use ConsumeJoin recorded for host.
	ReleaseJoin(tok, host string) error
	// RevokeName revokes every token of kind for name and returns how many.
	RevokeName(kind, name string) (int, error)
	// RevokeID revokes the token whose ID is id.
	RevokeID(id string) (bool, error)
}

var _ State = (*Set)(nil)

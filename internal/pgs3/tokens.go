package pgs3

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/token"
)

// missTimeout bounds the database lookup of a token the cache lacks: it
// runs on a request's path, before the caller is authenticated.
const missTimeout = 2 * time.Second

// Tokens is token.State in PostgreSQL's tokens table, which holds only
// each token's hex SHA-256. Lookups answer from memory: a copy of the
// table reloaded within refreshEvery of any change (see cached), and a
// token the copy lacks is looked up in the database before it is refused.
type Tokens struct {
	b *Backend
	c *cached

	mu      sync.RWMutex
	byHash  map[[32]byte]token.Entry
	version int64 // of the tokens table byHash was read at
}

var _ token.State = (*Tokens)(nil)

// Tokens is the backend's token.State, loaded on the first call and kept
// current until the backend closes.
func (b *Backend) Tokens(ctx context.Context) (*Tokens, error) {
	return shared(ctx, b, &b.trust.tokens, func() (*Tokens, *cached) {
		t := &Tokens{b: b}
		t.c = &cached{b: b, what: "tokens", load: t.load}
		return t, t.c
	})
}

const tokenCols = `sha256, kind, name, created, revoked, uses, enrolled, expires`

type scanner interface{ Scan(dest ...any) error }

// scanEntry reads tokenCols, then extra.
func scanEntry(row scanner, extra ...any) (token.Entry, error) {
	var e token.Entry
	var expires *time.Time
	err := row.Scan(append([]any{&e.SHA256, &e.Kind, &e.Name, &e.Created, &e.Revoked, &e.Uses, &e.Enrolled, &expires}, extra...)...)
	e.Created = e.Created.UTC()
	if expires != nil {
		e.Expires = expires.UTC()
	}
	if len(e.Enrolled) == 0 {
		e.Enrolled = nil
	}
	return e, err
}

func sumOf(e token.Entry) ([32]byte, error) {
	raw, err := hex.DecodeString(e.SHA256)
	if err != nil || len(raw) != 32 {
		return [32]byte{}, fmt.Errorf("the tokens table's entry for %s has a malformed hash", e.Name)
	}
	return [32]byte(raw), nil
}

func sumHex(h [32]byte) string { return hex.EncodeToString(h[:]) }

func (t *Tokens) load(ctx context.Context, tx pgx.Tx, version int64) error {
	rows, err := tx.Query(ctx, `SELECT `+tokenCols+` FROM tokens`)
	if err != nil {
		return err
	}
	m := map[[32]byte]token.Entry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		h, err := sumOf(e)
		if err != nil {
			return err
		}
		m[h] = e
	}
	if err := rows.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	t.byHash, t.version = m, version
	t.mu.Unlock()
	return nil
}

// find is the entry stored for hash h: from memory, else from the
// database. A token made on another receiver a moment ago (a host that
// enrolled there and came here next) works on its first request, as the
// token file's reload on a miss does. A miss costs one indexed query;
// callers who are not yet authenticated reach it only at the rate the
// connection limits allow.
func (t *Tokens) find(h [32]byte) (token.Entry, bool) {
	t.mu.RLock()
	e, ok := t.byHash[h]
	t.mu.RUnlock()
	if ok {
		return e, true
	}
	ctx, cancel := context.WithTimeout(t.b.life, missTimeout)
	defer cancel()
	var version int64
	e, err := scanEntry(t.b.pool.QueryRow(ctx, `SELECT `+tokenCols+`,
		(SELECT version FROM trust_versions WHERE what = 'tokens') FROM tokens WHERE sha256 = $1`, sumHex(h)), &version)
	if err != nil {
		return token.Entry{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if version < t.version {
		// The copy in memory is newer and does not have it.
		return token.Entry{}, false
	}
	t.byHash[h] = e // the next reload, from a newer snapshot, replaces it
	return e, true
}

// Lookup is the entry a presented bearer token belongs to (see
// token.Set.Lookup): found by its hash, the stored hash then compared in
// constant time; revoked tokens are not found.
func (t *Tokens) Lookup(tok string) (token.Entry, bool) {
	if !token.IsBearer(tok) {
		return token.Entry{}, false
	}
	return t.LookupSum(token.Sum(tok))
}

// LookupSum is Lookup by the token's Sum.
func (t *Tokens) LookupSum(h [32]byte) (token.Entry, bool) {
	e, ok := t.find(h)
	if !ok || !e.Valid(h) {
		return token.Entry{}, false
	}
	return e, true
}

// CheckJoin is token.State.CheckJoin from memory (the database on a miss).
func (t *Tokens) CheckJoin(tok string, now time.Time) error {
	tok = strings.TrimSpace(tok)
	if !token.IsJoin(tok) {
		return token.ErrJoinUnknown
	}
	e, ok := t.find(token.Sum(tok))
	if !ok {
		return token.ErrJoinUnknown
	}
	return e.JoinUsable(now)
}

// changeTokens is change on the tokens table, then a reload of this
// receiver's copy, so it answers with its own change at once.
func (t *Tokens) changeTokens(fn func(ctx context.Context, tx pgx.Tx) (bool, error)) (bool, error) {
	ctx, cancel := t.b.call()
	defer cancel()
	changed, err := t.b.change(ctx, "tokens", func(tx pgx.Tx) (bool, error) { return fn(ctx, tx) })
	if changed {
		_ = t.c.refresh(ctx) // on failure the next poll reloads
	}
	return changed, err
}

// Add makes a token for (kind, name), stores its hash and returns the
// token, which is shown once.
func (t *Tokens) Add(kind, name string, now time.Time) (string, error) {
	tok, err := token.New()
	if err != nil {
		return "", err
	}
	_, err = t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		_, err := tx.Exec(ctx, `INSERT INTO tokens (sha256, kind, name, created) VALUES ($1, $2, $3, $4)`,
			sumHex(token.Sum(tok)), kind, name, now.UTC())
		return err == nil, err
	})
	if err != nil {
		return "", fmt.Errorf("store the hash of a new %s token for %s in PostgreSQL: %w", kind, name, err)
	}
	return tok, nil
}

// AddJoin stores a join token for the hosts pattern matches, for uses
// hosts, until expires; join tokens expired more than token.JoinKeep ago
// are dropped, as the token file drops them.
func (t *Tokens) AddJoin(caFingerprint, pattern string, uses int, expires, now time.Time) (string, error) {
	pattern, err := token.JoinPattern(pattern)
	if err != nil {
		return "", err
	}
	tok, err := token.NewJoin(caFingerprint)
	if err != nil {
		return "", err
	}
	_, err = t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE kind = $1 AND expires < $2`,
			token.KindJoin, now.Add(-token.JoinKeep)); err != nil {
			return false, err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokens (sha256, kind, name, created, uses, expires) VALUES ($1, $2, $3, $4, $5, $6)`,
			sumHex(token.Sum(tok)), token.KindJoin, pattern, now.UTC(), uses, expires.UTC())
		return err == nil, err
	})
	if err != nil {
		return "", fmt.Errorf("store the hash of a join token for %s in PostgreSQL: %w", pattern, err)
	}
	return tok, nil
}

// ConsumeJoin checks a join token for host and records the use. The
// token's row is locked (FOR UPDATE) from the check to the commit, so
// receivers consuming one token take turns and each sees the others'
// uses: two hosts cannot take one last use. Its hash is matched by the
// database's equality, which could leak in time only about a hash.
func (t *Tokens) ConsumeJoin(tok, host string, now time.Time) error {
	tok = strings.TrimSpace(tok)
	if !token.IsJoin(tok) {
		return token.ErrJoinUnknown
	}
	sum := sumHex(token.Sum(tok))
	_, err := t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		e, err := scanEntry(tx.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE sha256 = $1 AND kind = $2 FOR UPDATE`,
			sum, token.KindJoin))
		if errors.Is(err, pgx.ErrNoRows) {
			return false, token.ErrJoinUnknown
		}
		if err != nil {
			return false, fmt.Errorf("read the join token from PostgreSQL: %w", err)
		}
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE kind = $1 AND name = $2 AND NOT revoked)`,
			token.KindHost, host).Scan(&live); err != nil {
			return false, fmt.Errorf("look for %s's host tokens in PostgreSQL: %w", host, err)
		}
		if err := e.JoinFor(host, live, now); err != nil {
			return false, err
		}
		if _, err := tx.Exec(ctx, `UPDATE tokens SET enrolled = array_append(enrolled, $2) WHERE sha256 = $1`, sum, host); err != nil {
			return false, fmt.Errorf("record %s's use of the join token: %w", host, err)
		}
		return true, nil
	})
	return err
}

// ReleaseJoin gives back the use ConsumeJoin recorded for host.
func (t *Tokens) ReleaseJoin(tok, host string) error {
	sum := sumHex(token.Sum(strings.TrimSpace(tok)))
	_, err := t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET enrolled = array_remove(enrolled, $2)
			WHERE sha256 = $1 AND kind = $3 AND $2 = ANY (enrolled)`, sum, host, token.KindJoin)
		return tag.RowsAffected() > 0, err
	})
	if err != nil {
		return fmt.Errorf("give %s's use of the join token back: %w", host, err)
	}
	return nil
}

// RevokeName revokes every token of kind for name and returns how many.
func (t *Tokens) RevokeName(kind, name string) (int, error) {
	var n int64
	_, err := t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET revoked = true WHERE kind = $1 AND name = $2 AND NOT revoked`, kind, name)
		n = tag.RowsAffected()
		return n > 0, err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke the %s tokens of %s in PostgreSQL: %w", kind, name, err)
	}
	return int(n), nil
}

// RevokeID revokes the token whose ID (at least 12 hex digits of its
// hash) is id: the oldest unrevoked one, as the token file does.
func (t *Tokens) RevokeID(id string) (bool, error) {
	if len(id) < 12 {
		return false, nil
	}
	changed, err := t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET revoked = true WHERE sha256 = (
			SELECT sha256 FROM tokens WHERE starts_with(sha256, lower($1)) AND NOT revoked ORDER BY created LIMIT 1)`, id)
		return tag.RowsAffected() > 0, err
	})
	if err != nil {
		return false, fmt.Errorf("revoke token %s in PostgreSQL: %w", id, err)
	}
	return changed, nil
}

// Import stores entries as they are (hashes, never tokens), for `cis490
// migrate`: a hash not in the table is added whole; one already there
// keeps its row but takes a revocation and the join uses the entry
// records, so copying again after a token was revoked or used in the
// folder carries that over, and never undoes what a receiver on the
// database did since. It says how many rows it added and how many it
// changed; a second import of the same entries does neither.
func (t *Tokens) Import(entries []token.Entry) (added, updated int, err error) {
	_, err = t.changeTokens(func(ctx context.Context, tx pgx.Tx) (bool, error) {
		added, updated = 0, 0
		var batch pgx.Batch
		for _, e := range entries {
			var expires *time.Time
			if !e.Expires.IsZero() {
				x := e.Expires.UTC()
				expires = &x
			}
			enrolled := e.Enrolled
			if enrolled == nil {
				enrolled = []string{} // the column is NOT NULL
			}
			batch.Queue(`INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (sha256) DO UPDATE SET revoked = tokens.revoked OR excluded.revoked,
					enrolled = tokens.enrolled || ARRAY(SELECT unnest(excluded.enrolled) EXCEPT SELECT unnest(tokens.enrolled))
				WHERE (excluded.revoked AND NOT tokens.revoked) OR NOT excluded.enrolled <@ tokens.enrolled
				RETURNING xmax = 0`,
				strings.ToLower(e.SHA256), e.Kind, e.Name, e.Created.UTC(), e.Revoked, e.Uses, enrolled, expires)
		}
		br := tx.SendBatch(ctx, &batch)
		for _, e := range entries {
			var inserted bool
			err := br.QueryRow().Scan(&inserted)
			switch {
			case errors.Is(err, pgx.ErrNoRows): // already there as it is
			case err != nil:
				br.Close()
				return false, fmt.Errorf("the %s token of %s: %w", e.Kind, e.Name, err)
			case inserted:
				added++
			default:
				updated++
			}
		}
		if err := br.Close(); err != nil {
			return false, err
		}
		return added+updated > 0, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("import %d token hashes into PostgreSQL: %w", len(entries), err)
	}
	return added, updated, nil
}

// Entries lists every entry in the table as it is now, revoked ones
// included, for a check that a copy is complete.
func (t *Tokens) Entries(ctx context.Context) ([]token.Entry, error) {
	rows, err := t.b.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens`)
	if err != nil {
		return nil, fmt.Errorf("read the tokens from PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (token.Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, fmt.Errorf("read the tokens from PostgreSQL: %w", err)
	}
	return out, nil
}

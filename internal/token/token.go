// Package token makes and checks bearer tokens. A token is 256 random bits;
// only its SHA-256 is ever stored, and a presented token is compared in
// constant time.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// Kinds of token.
const (
	KindHost  = "host"
	KindAdmin = "admin"
)

const prefix = "c490_"

// Entry is one stored token: never the token itself, only its hash.
type Entry struct {
	SHA256  string    `json:"sha256"`
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
	// Join tokens: Name is the host or pattern they enroll, Uses how many
	// hosts may, Enrolled those that did, Expires when it stops working.
	Uses     int       `json:"uses,omitempty"`
	Enrolled []string  `json:"enrolled,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

type file struct {
	Tokens []Entry `json:"tokens"`
}

// New returns a fresh token: 256 random bits, URL-safe.
func New() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// IsBearer reports whether tok has a bearer token's form; only such a
// token is looked up (a join token is never a bearer token).
func IsBearer(tok string) bool { return strings.HasPrefix(tok, prefix) }

func hash(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

// Sum is what is kept of a token: its SHA-256. A holder of only the sum
// (a dashboard session kept on disk) can ask LookupSum, never present the
// token.
func Sum(tok string) [32]byte { return hash(tok) }

// Add makes a token for (kind, name), stores its hash in the file
// (created 0600 if missing) and returns the token, which is shown once.
func (s *Set) Add(kind, name string, now time.Time) (string, error) {
	path := s.path
	tok, err := New()
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(path)
	if err != nil {
		return "", err
	}
	defer unlock()
	f, err := readFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	h := hash(tok)
	f.Tokens = append(f.Tokens, Entry{SHA256: hex.EncodeToString(h[:]), Kind: kind, Name: name, Created: now.UTC()})
	return tok, writeFile(path, f)
}

func readFile(path string) (file, error) {
	var f file
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s is not a valid token file: %w", path, err)
	}
	return f, nil
}

// ReadEntries lists every entry of the token file at path as stored
// (hashes only, revoked and join tokens included), for a copy of the file
// into another State; a missing file holds none.
func ReadEntries(path string) ([]Entry, error) {
	f, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f.Tokens, err
}

// Set is State in the token file every receiver has kept: token hashes
// loaded into memory and reloaded when the file changes (so a token made by
// `cis490 ca issue` works without restarting the receiver); changes are
// read-modify-writes under the file's lock.
type Set struct {
	path string

	mu      sync.Mutex
	byHash  map[[32]byte]Entry
	modTime time.Time
	size    int64
	checked time.Time
}

// Files is the token file at path, read on first use: for a command that
// changes a few tokens and looks none up.
func Files(path string) *Set { return &Set{path: path} }

// Open loads the token file at path; a missing file is an empty set.
func Open(path string) (*Set, error) {
	s := Files(path)
	if err := s.reload(time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) reload(now time.Time) error {
	s.checked = now
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.byHash = map[[32]byte]Entry{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat token file: %w", err)
	}
	if s.byHash != nil && st.ModTime().Equal(s.modTime) && st.Size() == s.size {
		return nil
	}
	f, err := readFile(s.path)
	if err != nil {
		return err
	}
	m := make(map[[32]byte]Entry, len(f.Tokens))
	for _, e := range f.Tokens {
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != 32 {
			return fmt.Errorf("%s: entry for %s has a malformed hash", s.path, e.Name)
		}
		m[[32]byte(raw)] = e
	}
	s.byHash, s.modTime, s.size = m, st.ModTime(), st.Size()
	return nil
}

// Lookup returns the entry a presented token belongs to. It is found by
// its SHA-256 (what the map's key comparison could leak in time is about a
// hash, never the token) and the stored hash is then compared in constant
// time; revoked tokens are not found. The file is
// re-read when it changed: at most once a second, and at once on a miss, so
// a token just made by `cis490 ca issue` works on its first request.
func (s *Set) Lookup(tok string) (Entry, bool) {
	if !IsBearer(tok) {
		return Entry{}, false
	}
	return s.LookupSum(hash(tok))
}

// LookupSum is Lookup by the token's Sum.
func (s *Set) LookupSum(h [32]byte) (Entry, bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.checked) > time.Second {
		_ = s.reload(now) // a broken file keeps the last good set
	}
	e, ok := s.byHash[h]
	if !ok {
		_ = s.reload(now)
		e, ok = s.byHash[h]
	}
	if !ok || !e.Valid(h) {
		return Entry{}, false
	}
	return e, true
}

// Valid reports whether e, found by the hash h of a presented token,
// stores h (compared in constant time) and is not revoked.
func (e Entry) Valid(h [32]byte) bool {
	stored, _ := hex.DecodeString(e.SHA256)
	return subtle.ConstantTimeCompare(stored, h[:]) == 1 && !e.Revoked
}

// RevokeName revokes every token of kind for name and returns how many.
func (s *Set) RevokeName(kind, name string) (int, error) {
	path := s.path
	unlock, err := lockFile(path)
	if err != nil {
		return 0, err
	}
	defer unlock()
	f, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for i, e := range f.Tokens {
		if e.Kind == kind && e.Name == name && !e.Revoked {
			f.Tokens[i].Revoked = true
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, writeFile(path, f)
}

func writeFile(path string, f file) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(vfs.OS{}, path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("store token hashes in %s: %w", path, err)
	}
	return nil
}

// lockFile serializes the read-modify-write of the token file between
// the receiver (enrollment) and the admin commands.
func lockFile(path string) (func(), error) { return vfs.Lock(path+".lock", 0o600) }

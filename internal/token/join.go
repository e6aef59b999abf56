package token

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// KindJoin is a one-time join token: it lets `cis490 enroll` get a host's
// certificate and token, for the hosts it names, until it expires.
const KindJoin = "join"

const joinPrefix = "c490j_"

// NewJoin makes a join token carrying the CA's fingerprint (hex SHA-256),
// which the enrolling host pins the receiver's TLS to.
func NewJoin(caFingerprint string) (string, error) {
	fp := strings.ToLower(strings.ReplaceAll(caFingerprint, ":", ""))
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
		return "", errors.New("the CA fingerprint is not a hex SHA-256")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return joinPrefix + fp + "_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// JoinFingerprint reads the CA fingerprint out of a join token.
func JoinFingerprint(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(tok), joinPrefix)
	if !ok {
		return "", false
	}
	fp, secret, ok := strings.Cut(rest, "_")
	if b, err := hex.DecodeString(fp); !ok || err != nil || len(b) != 32 || len(secret) < 40 {
		return "", false
	}
	return fp, true
}

// ID is the short id a token is listed and revoked by: the first 12 hex
// digits of its hash.
func ID(tok string) string {
	h := hash(strings.TrimSpace(tok))
	return hex.EncodeToString(h[:6])
}

// AddJoin stores a join token for the hosts pattern matches (a name, or a
// path.Match pattern like lab-1??) that uses hosts may enroll with, each
// name once, until expires.
func (s *Set) AddJoin(caFingerprint, pattern string, uses int, expires, now time.Time) (string, error) {
	file := s.path
	pattern, err := JoinPattern(pattern)
	if err != nil {
		return "", err
	}
	tok, err := NewJoin(caFingerprint)
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(file)
	if err != nil {
		return "", err
	}
	defer unlock()
	f, err := readFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	h := hash(tok)
	f.Tokens = append(pruneJoins(f.Tokens, now), Entry{SHA256: hex.EncodeToString(h[:]), Kind: KindJoin, Name: pattern, Created: now.UTC(),
		Uses: uses, Expires: expires.UTC()})
	return tok, writeFile(file, f)
}

// JoinPattern is pattern as a join token stores it: folded to lowercase,
// as host names are, and checked to be a path.Match pattern.
func JoinPattern(pattern string) (string, error) {
	pattern = strings.ToLower(pattern)
	if _, err := path.Match(pattern, ""); err != nil {
		return "", fmt.Errorf("%q is not a host pattern: %w", pattern, err)
	}
	return pattern, nil
}

// IsJoin reports whether tok has a join token's form; only such a token
// is looked up as one.
func IsJoin(tok string) bool { return strings.HasPrefix(strings.TrimSpace(tok), joinPrefix) }

// JoinKeep is how long an expired join token is kept, so that using it
// still says "expired" rather than "unknown".
const JoinKeep = 7 * 24 * time.Hour

// pruneJoins drops join tokens expired more than JoinKeep ago: every room
// token ever made would otherwise stay in the file (and in memory) for
// good.
func pruneJoins(tokens []Entry, now time.Time) []Entry {
	out := tokens[:0]
	for _, e := range tokens {
		if e.Kind == KindJoin && !e.Expires.IsZero() && now.Sub(e.Expires) > JoinKeep {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Why a join token was refused.
var (
	ErrJoinUnknown = errors.New("the join token is not known to this receiver (wrong, revoked, expired long ago, or from another fleet); ask for a new one: cis490 token create")
	ErrJoinExpired = errors.New("the join token has expired; ask for a new one: cis490 token create")
	ErrJoinHost    = errors.New("the join token is not for this host name")
	ErrJoinUsed    = errors.New("the join token has been used up (each host name enrolls once with it); ask for a new one")
	ErrJoinLive    = errors.New("this host name is enrolled already, and a room token enrolls new machines only; to replace the host's credentials use a token for it alone (cis490 token create --host NAME)")
)

// isPattern reports whether a join token's name is a room pattern.
func isPattern(name string) bool { return strings.ContainsAny(name, "*?[") }

// ConsumeJoin checks a join token for host and, when it may enroll,
// records the use, all under the file's lock so two hosts cannot take
// one last use.
func (s *Set) ConsumeJoin(tok, host string, now time.Time) error {
	file := s.path
	tok = strings.TrimSpace(tok)
	if !IsJoin(tok) {
		return ErrJoinUnknown
	}
	unlock, err := lockFile(file)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := readFile(file)
	if err != nil {
		return ErrJoinUnknown
	}
	i := findJoin(f, tok)
	if i < 0 {
		return ErrJoinUnknown
	}
	live := slices.ContainsFunc(f.Tokens, func(o Entry) bool { return o.Kind == KindHost && o.Name == host && !o.Revoked })
	if err := f.Tokens[i].JoinFor(host, live, now); err != nil {
		return err
	}
	f.Tokens[i].Enrolled = append(f.Tokens[i].Enrolled, host)
	return writeFile(file, f)
}

// JoinFor is ConsumeJoin's verdict on join token e for host, nil when
// host may enroll with it; live says host holds an unrevoked host token.
func (e Entry) JoinFor(host string, live bool, now time.Time) error {
	switch ok, _ := path.Match(e.Name, host); {
	case e.Revoked:
		return ErrJoinUnknown
	case !e.Expires.IsZero() && now.After(e.Expires):
		return ErrJoinExpired
	case !ok:
		return fmt.Errorf("%w (it is for %s)", ErrJoinHost, e.Name)
	case len(e.Enrolled) >= max(e.Uses, 1) || slices.Contains(e.Enrolled, host):
		return ErrJoinUsed
	case live && isPattern(e.Name):
		// A room token (baked into an image, maybe on a student's
		// laptop) must not take over a host that is enrolled.
		return ErrJoinLive
	}
	return nil
}

// findJoin is the index of the join token tok in f (its hash compared in
// constant time), or -1.
func findJoin(f file, tok string) int {
	h := hash(strings.TrimSpace(tok))
	for i, e := range f.Tokens {
		if stored, err := hex.DecodeString(e.SHA256); err == nil && e.Kind == KindJoin && subtle.ConstantTimeCompare(stored, h[:]) == 1 {
			return i
		}
	}
	return -1
}

// ReleaseJoin gives back the use ConsumeJoin recorded for host, when the
// enrollment failed after it: the host may try again.
func (s *Set) ReleaseJoin(tok, host string) error {
	file := s.path
	unlock, err := lockFile(file)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := readFile(file)
	if err != nil {
		return err
	}
	i := findJoin(f, tok)
	if i < 0 {
		return nil
	}
	e := f.Tokens[i]
	if k := slices.Index(e.Enrolled, host); k >= 0 {
		f.Tokens[i].Enrolled = slices.Delete(e.Enrolled, k, k+1)
		return writeFile(file, f)
	}
	return nil
}

// CheckJoin is State.CheckJoin from memory (a stat when tok is not known:
// the file is read only when it changed).
func (s *Set) CheckJoin(tok string, now time.Time) error {
	tok = strings.TrimSpace(tok)
	if !IsJoin(tok) {
		return ErrJoinUnknown
	}
	h := hash(tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byHash[h]
	if !ok {
		_ = s.reload(now)
		e, ok = s.byHash[h]
	}
	if !ok {
		return ErrJoinUnknown
	}
	return e.JoinUsable(now)
}

// JoinUsable is CheckJoin's verdict on entry e: nil when it is a join
// token, unrevoked, unexpired, with a use left.
func (e Entry) JoinUsable(now time.Time) error {
	switch {
	case e.Kind != KindJoin || e.Revoked:
		return ErrJoinUnknown
	case !e.Expires.IsZero() && now.After(e.Expires):
		return ErrJoinExpired
	case len(e.Enrolled) >= max(e.Uses, 1):
		return ErrJoinUsed
	}
	return nil
}

// RevokeID revokes the token whose ID is id.
func (s *Set) RevokeID(id string) (bool, error) {
	file := s.path
	unlock, err := lockFile(file)
	if err != nil {
		return false, err
	}
	defer unlock()
	f, err := readFile(file)
	if err != nil {
		return false, err
	}
	for i, e := range f.Tokens {
		if strings.HasPrefix(e.SHA256, strings.ToLower(id)) && len(id) >= 12 && !e.Revoked {
			f.Tokens[i].Revoked = true
			return true, writeFile(file, f)
		}
	}
	return false, nil
}

package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// session is a logged-in admin. Only sums are kept, so the sessions file
// (and memory) hold nothing a client could present: the cookie's SHA-256
// is the key, the token's SHA-256 is asked again on every request, so a
// revoked token ends the session.
type session struct {
	admin    string
	tokenSum [32]byte
	expires  time.Time
}

// Sessions keeps the logged-in sessions across restarts, so a receiver
// restart (an upgrade, a reboot) does not log out the wall screen showing
// the fleet. SessionsFile keeps them in data_dir; package pgs3 in a shared
// database.
type Sessions interface {
	// Load returns the stored sessions; none stored is none, not an error.
	Load() ([]StoredSession, error)
	// Save replaces the stored sessions with these, whole: a crash leaves
	// the old set or the new one. When it fails, no logged-out session
	// may come back from what was stored (logging in again is the worst
	// that costs).
	Save(sessions []StoredSession) error
}

// StoredSession is a session as kept: only SHA-256 sums, hex.
type StoredSession struct {
	CookieSHA256 string    `json:"cookie_sha256"`
	Admin        string    `json:"admin"`
	TokenSHA256  string    `json:"token_sha256"`
	Expires      time.Time `json:"expires"`
}

// SessionsFile is Sessions in the JSON file at path (0600), as every
// receiver has kept data_dir's dashboard-sessions.json.
func SessionsFile(path string) Sessions { return sessionsFile(path) }

type sessionsFile string

// onDisk is the file's format.
type onDisk struct {
	Sessions []StoredSession `json:"sessions"`
}

func (p sessionsFile) Load() ([]StoredSession, error) {
	b, err := os.ReadFile(string(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f onDisk
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", string(p), err)
	}
	return f.Sessions, nil
}

// Save writes the file atomically; a file that cannot be written is
// removed, so a logged-out session does not come back with a restart.
func (p sessionsFile) Save(sessions []StoredSession) error {
	b, _ := json.Marshal(onDisk{Sessions: sessions})
	if err := vfs.WriteFileAtomic(vfs.OS{}, string(p), b, 0o600); err != nil {
		if rmErr := os.Remove(string(p)); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", string(p), rmErr))
		}
		return fmt.Errorf("save %s: %w", string(p), err)
	}
	return nil
}

// loadSessions reads the sessions still live at now; none kept holds
// none, and an unreadable store is reported and starts empty (logging in
// again is the worst it costs).
func loadSessions(keep Sessions, now time.Time) (map[[32]byte]session, error) {
	out := map[[32]byte]session{}
	if keep == nil {
		return out, nil
	}
	stored, err := keep.Load()
	if err != nil {
		return out, err
	}
	for _, s := range stored {
		key, ok1 := sum(s.CookieSHA256)
		tok, ok2 := sum(s.TokenSHA256)
		if ok1 && ok2 && now.Before(s.Expires) && len(out) < maxSessions {
			out[key] = session{admin: s.Admin, tokenSum: tok, expires: s.Expires}
		}
	}
	return out, nil
}

func sum(h string) ([32]byte, bool) {
	var out [32]byte
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(out) {
		return out, false
	}
	copy(out[:], b)
	return out, true
}

// sessionsSnapshot is the live sessions to save, numbered; the caller
// holds u.mu. Saving happens after u.mu is let go, so no page waits on an
// SD card's fsync behind a login.
func (u *UI) sessionsSnapshot() (uint64, []StoredSession) {
	u.gen++
	out := []StoredSession{}
	now := u.opt.Now()
	for k, s := range u.sessions {
		if now.Before(s.expires) {
			out = append(out, StoredSession{CookieSHA256: hex.EncodeToString(k[:]), Admin: s.admin,
				TokenSHA256: hex.EncodeToString(s.tokenSum[:]), Expires: s.expires.UTC()})
		}
	}
	return u.gen, out
}

// saveSessions replaces the kept sessions with a snapshot, unless a later
// one was saved already.
func (u *UI) saveSessions(gen uint64, sessions []StoredSession) {
	if u.opt.Sessions == nil {
		return
	}
	u.saveMu.Lock()
	defer u.saveMu.Unlock()
	if gen <= u.saved {
		return
	}
	u.saved = gen
	if err := u.opt.Sessions.Save(sessions); err != nil {
		u.opt.Log.Error("keep the dashboard's sessions (a restart will log admins out)", "err", err)
	}
}

// cookieKey is how a session cookie is looked up.
func cookieKey(value string) [32]byte { return sha256.Sum256([]byte(value)) }

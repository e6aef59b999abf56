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

// sessionsFile is the sessions as kept on disk, so a receiver restart (an
// upgrade, a reboot) does not log out the wall screen showing the fleet.
type sessionsFile struct {
	Sessions []storedSession `json:"sessions"`
}

type storedSession struct {
	CookieSHA256 string    `json:"cookie_sha256"`
	Admin        string    `json:"admin"`
	TokenSHA256  string    `json:"token_sha256"`
	Expires      time.Time `json:"expires"`
}

// loadSessions reads the sessions still live at now; a missing file holds
// none, and an unreadable one is reported and starts empty (logging in
// again is the worst it costs).
func loadSessions(path string, now time.Time) (map[[32]byte]session, error) {
	out := map[[32]byte]session{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var f sessionsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return out, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range f.Sessions {
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
func (u *UI) sessionsSnapshot() (uint64, []storedSession) {
	u.gen++
	out := []storedSession{}
	now := u.opt.Now()
	for k, s := range u.sessions {
		if now.Before(s.expires) {
			out = append(out, storedSession{CookieSHA256: hex.EncodeToString(k[:]), Admin: s.admin,
				TokenSHA256: hex.EncodeToString(s.tokenSum[:]), Expires: s.expires.UTC()})
		}
	}
	return u.gen, out
}

// saveSessions replaces the sessions file (0600) with a snapshot, unless
// a later one was saved already. A file that cannot be written is
// removed: a logged-out session must not come back with a restart, and
// logging in again is the worst that costs.
func (u *UI) saveSessions(gen uint64, sessions []storedSession) {
	if u.opt.SessionsFile == "" {
		return
	}
	u.saveMu.Lock()
	defer u.saveMu.Unlock()
	if gen <= u.saved {
		return
	}
	u.saved = gen
	b, _ := json.Marshal(sessionsFile{Sessions: sessions})
	if err := vfs.WriteFileAtomic(vfs.OS{}, u.opt.SessionsFile, b, 0o600); err != nil {
		rmErr := os.Remove(u.opt.SessionsFile)
		u.opt.Log.Error("keep the dashboard's sessions (a restart will log admins out)", "file", u.opt.SessionsFile, "err", err, "remove", rmErr)
	}
}

// cookieKey is how a session cookie is looked up.
func cookieKey(value string) [32]byte { return sha256.Sum256([]byte(value)) }

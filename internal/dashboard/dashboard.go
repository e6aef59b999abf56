// Package dashboard is the receiver's web view for the fleet's maintainer:
// the fleet worst first, a page per host (its requests by hour, alerts,
// doctor snapshot and where it differs from the fleet, its streams), and
// the alert history, and a search of every host's logs. Admins only: a login form taking an admin token sets a
// session cookie (Secure, HttpOnly, SameSite=Strict), or an admin client
// certificate. Server-rendered with html/template; the stylesheet is
// embedded (the receiver may have no internet), and no script runs.
package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/search"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/token"
)

//go:embed templates/*.html static/*
var files embed.FS

// Options wire the dashboard to the receiver.
type Options struct {
	DataDir string
	// HostHealth holds the hosts' doctor snapshots (nil: DataDir's
	// host-health folder).
	HostHealth hosthealth.Store
	// Detector keeps the detector's alerts (nil: DataDir's).
	Detector fleethealth.Store
	Fleet    func(ctx context.Context, now time.Time) (*fleethealth.View, error)
	Streams  store.Streams
	// AdminToken names the admin whose token has this token.Sum; it is
	// asked again on every request of a session, so a revoked token ends
	// it.
	AdminToken func(sum [32]byte) (name string, ok bool)
	// AdminCertified, asked at login, says whether the admin still holds
	// a certificate neither expired nor revoked (nil: not asked).
	AdminCertified func(name string) bool
	// AdminCert names the admin whose verified client certificate the
	// request came with.
	AdminCert  func(r *http.Request) (name string, ok bool)
	SessionTTL time.Duration // default 12 h
	// Sessions keeps the sessions across restarts (nil: memory only).
	Sessions Sessions
	Now      func() time.Time
	Log      *slog.Logger
	// Search runs a search for admin, from remote, on the receiver's one
	// search path (GET /v1/search's checks, slots, deadline and index
	// line); nil: the search page says this receiver cannot search.
	Search func(ctx context.Context, admin, remote string, q url.Values, start func(), emit func(search.Result) error) (search.Summary, error)
}

// UI serves /ui/.
type UI struct {
	opt     Options
	pages   map[string]*template.Template
	handler http.Handler

	mu       sync.Mutex
	sessions map[[32]byte]session // by the cookie's SHA-256
	gen      uint64               // counts changes to sessions
	saveMu   sync.Mutex
	saved    uint64 // the change the sessions file holds
	facts    factsCache
}

const (
	cookieName  = "cis490_session"
	maxSessions = 1000
)

// New makes the dashboard.
func New(opt Options) (*UI, error) {
	if opt.HostHealth == nil {
		opt.HostHealth = hosthealth.Folder(datadir.Dir(opt.DataDir).HostHealth())
	}
	if opt.Detector == nil {
		opt.Detector = fleethealth.Files(opt.DataDir, "")
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	sessions, err := loadSessions(opt.Sessions, opt.Now())
	if err != nil {
		opt.Log.Warn("the dashboard's sessions could not be read; admins log in again", "err", err)
	}
	u := &UI{opt: opt, pages: map[string]*template.Template{}, sessions: sessions}
	for _, p := range []string{"login", "fleet", "host", "alerts", "search"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, err
		}
		u.pages[p] = t
	}
	static, _ := fs.Sub(files, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/login", u.loginPage)
	mux.HandleFunc("POST /ui/login", u.login)
	mux.HandleFunc("POST /ui/logout", u.admin(u.logout))
	mux.HandleFunc("GET /ui/{$}", u.admin(u.fleetPage))
	mux.HandleFunc("GET /ui/host/{host}", u.admin(u.hostPage))
	mux.HandleFunc("GET /ui/alerts", u.admin(u.alertsPage))
	mux.HandleFunc("GET /ui/search", u.admin(u.searchPage))
	// A form posted from another site never changes anything here (the
	// browser's Sec-Fetch-Site, else Origin against Host).
	u.handler = securityHeaders(http.NewCrossOriginProtection().Handler(mux))
	return u, nil
}

func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.handler.ServeHTTP(w, r) }

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Cache-Control", "no-store")
		// The receiver speaks only TLS: a browser that once reached it
		// never tries plain HTTP (where a session cookie could be asked
		// for). Not includeSubDomains: the receiver's name may be a lab
		// domain's parent.
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

// admin lets through a request with a live session or an admin client
// certificate; any other gets the login page, never data.
func (u *UI) admin(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name, ok := u.who(r); ok {
			next(w, r, name)
			return
		}
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "log in first: /ui/login", http.StatusUnauthorized)
	}
}

func (u *UI) who(r *http.Request) (string, bool) {
	if c, err := r.Cookie(cookieName); err == nil {
		key := cookieKey(c.Value)
		u.mu.Lock()
		s, ok := u.sessions[key]
		if ok && u.opt.Now().After(s.expires) {
			delete(u.sessions, key)
			ok = false
			gen, snap := u.sessionsSnapshot()
			u.mu.Unlock()
			u.saveSessions(gen, snap)
		} else {
			u.mu.Unlock()
		}
		if ok {
			if name, live := u.opt.AdminToken(s.tokenSum); live && name == s.admin {
				return s.admin, true
			}
			u.mu.Lock()
			delete(u.sessions, key) // its token was revoked
			gen, snap := u.sessionsSnapshot()
			u.mu.Unlock()
			u.saveSessions(gen, snap)
		}
	}
	if u.opt.AdminCert != nil {
		return u.opt.AdminCert(r)
	}
	return "", false
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := u.who(r); ok {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	u.render(w, http.StatusOK, "login", map[string]any{"Title": "Log in"})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	name, ok := "", false
	if tok != "" && u.opt.AdminToken != nil {
		name, ok = u.opt.AdminToken(token.Sum(tok))
	}
	if !ok {
		u.opt.Log.Warn("dashboard login refused: not an admin token", "remote", r.RemoteAddr)
		u.render(w, http.StatusUnauthorized, "login", map[string]any{"Title": "Log in",
			"Error": "That is not an admin token of this receiver. Paste the token file of an admin bundle (cis490 ca issue --admin NAME)."})
		return
	}
	if u.opt.AdminCertified != nil && !u.opt.AdminCertified(name) {
		u.opt.Log.Warn("dashboard login refused: no live admin certificate", "admin", name, "remote", r.RemoteAddr)
		u.render(w, http.StatusUnauthorized, "login", map[string]any{"Title": "Log in",
			"Error": "This admin's certificates are expired or revoked, so its token no longer opens the dashboard; issue a new admin bundle (cis490 ca issue --admin NAME)."})
		return
	}
	var raw [32]byte
	rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	now := u.opt.Now()
	u.mu.Lock()
	if len(u.sessions) >= maxSessions {
		for k, s := range u.sessions {
			if now.After(s.expires) || len(u.sessions) >= maxSessions {
				delete(u.sessions, k)
			}
		}
	}
	u.sessions[cookieKey(id)] = session{admin: name, tokenSum: token.Sum(tok), expires: now.Add(u.opt.SessionTTL)}
	gen, snap := u.sessionsSnapshot()
	u.mu.Unlock()
	// Saved before the cookie is handed out: a session the browser holds
	// is one a restart keeps.
	u.saveSessions(gen, snap)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/ui/", MaxAge: int(u.opt.SessionTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	u.opt.Log.Info("dashboard login", "admin", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, _ string) {
	if c, err := r.Cookie(cookieName); err == nil {
		u.mu.Lock()
		delete(u.sessions, cookieKey(c.Value))
		gen, snap := u.sessionsSnapshot()
		u.mu.Unlock()
		u.saveSessions(gen, snap)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/ui/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (u *UI) render(w http.ResponseWriter, status int, page string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := u.pages[page].Execute(w, data); err != nil {
		u.opt.Log.Error("render a dashboard page", "page", page, "err", err)
	}
}

func (u *UI) fail(w http.ResponseWriter, err error) {
	u.opt.Log.Error("dashboard", "err", err)
	http.Error(w, "the receiver could not build this page; see its log", http.StatusServiceUnavailable)
}

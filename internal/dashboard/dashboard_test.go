package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/token"
)

// tokens are the live admin tokens of newUI's fake receiver; certified the
// admins with a live certificate.
var tokens, certified map[string]string

func newUI(t *testing.T, now *time.Time, certAdmin string) *UI {
	t.Helper()
	return newUIKeeping(t, now, certAdmin, "")
}

// newUIKeeping is newUI keeping its sessions in sessionsFile.
func newUIKeeping(t *testing.T, now *time.Time, certAdmin, sessionsFile string) *UI {
	t.Helper()
	tokens = map[string]string{"c490_admin": "alice", "c490_carol": "carol"}
	certified = map[string]string{"alice": "yes"}
	var keep Sessions
	if sessionsFile != "" {
		keep = SessionsFile(sessionsFile)
	}
	u, err := New(Options{DataDir: t.TempDir(), Now: func() time.Time { return *now }, SessionTTL: time.Hour, Sessions: keep,
		AdminCertified: func(name string) bool { return certified[name] != "" },
		Fleet: func(context.Context, time.Time) (*fleethealth.View, error) {
			return &fleethealth.View{Hosts: []fleethealth.Row{{Host: "lab-1", State: "ok"}}}, nil
		},
		AdminToken: func(sum [32]byte) (string, bool) {
			for tok, n := range tokens {
				if token.Sum(tok) == sum {
					return n, true
				}
			}
			return "", false
		},
		AdminCert: func(r *http.Request) (string, bool) {
			return certAdmin, certAdmin != "" && r.Header.Get("X-Test-Cert") == "yes"
		}})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func do(u *UI, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://receiver.test"+path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	u.ServeHTTP(w, r)
	return w
}

// TestSessions: a login sets a Secure, HttpOnly, SameSite=Strict cookie
// that opens the pages until it expires or the admin logs out; an admin
// certificate opens them without one; logging out needs a session.
func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "bob")
	w := do(u, http.MethodPost, "/ui/login", url.Values{"token": {"c490_admin"}}.Encode(), nil)
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d %+v", w.Code, cs)
	}
	cookie := map[string]string{"Cookie": cs[0].Name + "=" + cs[0].Value}
	if w := do(u, http.MethodGet, "/ui/", "", cookie); w.Code != 200 || !strings.Contains(w.Body.String(), "lab-1") ||
		!strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'none'") ||
		!strings.HasPrefix(w.Header().Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("the fleet with a session: %d %v", w.Code, w.Header())
	}
	now = now.Add(2 * time.Hour)
	if w := do(u, http.MethodGet, "/ui/", "", cookie); w.Code != http.StatusSeeOther {
		t.Fatalf("an expired session: %d", w.Code)
	}
	if w := do(u, http.MethodGet, "/ui/host/lab-1", "", map[string]string{"X-Test-Cert": "yes"}); w.Code != 200 || !strings.Contains(w.Body.String(), "bob") {
		t.Fatalf("an admin certificate: %d", w.Code)
	}
	if w := do(u, http.MethodPost, "/ui/logout", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("logout without a session: %d", w.Code)
	}
	if w := do(u, http.MethodGet, "/ui/host/not_a_host!", "", map[string]string{"X-Test-Cert": "yes"}); w.Code != http.StatusBadRequest {
		t.Fatalf("a bad host name: %d", w.Code)
	}
}

// TestRevocationEndsSessions: an admin without a live certificate cannot
// log in with its token, and revoking a token ends the sessions it opened.
func TestRevocationEndsSessions(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "")
	if w := do(u, http.MethodPost, "/ui/login", url.Values{"token": {"c490_carol"}}.Encode(), nil); w.Code != http.StatusUnauthorized ||
		!strings.Contains(w.Body.String(), "expired or revoked") || len(w.Result().Cookies()) != 0 {
		t.Fatalf("an admin whose certificates are gone: %d", w.Code)
	}
	w := do(u, http.MethodPost, "/ui/login", url.Values{"token": {"c490_admin"}}.Encode(), nil)
	cookie := map[string]string{"Cookie": w.Result().Cookies()[0].Name + "=" + w.Result().Cookies()[0].Value}
	if w := do(u, http.MethodGet, "/ui/", "", cookie); w.Code != 200 {
		t.Fatalf("a fresh session: %d", w.Code)
	}
	delete(tokens, "c490_admin") // ca revoke --admin alice
	if w := do(u, http.MethodGet, "/ui/", "", cookie); w.Code != http.StatusSeeOther {
		t.Fatalf("a session whose token was revoked: %d", w.Code)
	}
}

// TestAlertsPage: the host filter ignores case like host names do, and a
// fleet-level alert (host "*") is shown as the fleet's, not as a link to
// a host page that cannot exist.
func TestAlertsPage(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "bob")
	lines := `{"ts":"2026-11-27T10:00:00Z","host":"lab-1","symptom":"silent","detail":"no request for 45m","bucket":"2026-11-27T10"}
{"ts":"2026-11-27T11:00:00Z","host":"*","symptom":"receiver-fault","detail":"the receiver answered 500 to 3 hosts","bucket":"2026-11-27T11"}
`
	if err := os.WriteFile(datadir.Dir(u.opt.DataDir).Alerts(), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	cert := map[string]string{"X-Test-Cert": "yes"}
	w := do(u, http.MethodGet, "/ui/alerts?host=LAB-1", "", cert)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "no request for 45m") || strings.Contains(w.Body.String(), "answered 500") {
		t.Fatalf("alerts for LAB-1: %d\n%s", w.Code, w.Body)
	}
	w = do(u, http.MethodGet, "/ui/alerts", "", cert)
	if body := w.Body.String(); !strings.Contains(body, "the fleet") || strings.Contains(body, `href="/ui/host/*"`) || !strings.Contains(body, `href="/ui/host/lab-1"`) {
		t.Fatalf("all alerts:\n%s", body)
	}
}

// TestFleetPageRows: with many hosts the fleet page lists every sick one
// and the first healthy ones, says how many it left out and links to all
// of them; a name filter narrows the table, in any case.
func TestFleetPageRows(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := newUI(t, &now, "bob")
	hosts := []fleethealth.Row{{Host: "lab-sick", State: "sick"}, {Host: "lab-quiet", State: "silent"}}
	for i := range 120 {
		hosts = append(hosts, fleethealth.Row{Host: fmt.Sprintf("lab-%03d", i), State: "ok"})
	}
	u.opt.Fleet = func(context.Context, time.Time) (*fleethealth.View, error) {
		return &fleethealth.View{Hosts: hosts}, nil
	}
	cert := map[string]string{"X-Test-Cert": "yes"}
	rows := func(body string) int { return strings.Count(body, `<tr class="host"`) }

	body := do(u, http.MethodGet, "/ui/", "", cert).Body.String()
	if rows(body) != 2+maxHealthyShown || !strings.Contains(body, `data-host="lab-sick"`) || !strings.Contains(body, `data-host="lab-quiet"`) ||
		!strings.Contains(body, "70 more healthy hosts not listed") || !strings.Contains(body, `href="/ui/?all=1"`) {
		t.Fatalf("the fleet page of 122 hosts lists %d rows:\n%s", rows(body), body)
	}
	if body := do(u, http.MethodGet, "/ui/?all=1", "", cert).Body.String(); rows(body) != 122 || strings.Contains(body, "more healthy hosts") {
		t.Fatalf("?all=1 lists %d rows", rows(body))
	}
	body = do(u, http.MethodGet, "/ui/?q=LAB-11", "", cert).Body.String()
	if rows(body) != 10 || !strings.Contains(body, `data-host="lab-110"`) || strings.Contains(body, `data-host="lab-sick"`) || !strings.Contains(body, `value="LAB-11"`) {
		t.Fatalf("?q=LAB-11 lists %d rows:\n%s", rows(body), body)
	}
	if body := do(u, http.MethodGet, "/ui/?q=%3Cb%3Enope", "", cert).Body.String(); rows(body) != 0 || !strings.Contains(body, "No host's name contains “&lt;b&gt;nope”") {
		t.Fatalf("a filter matching nothing:\n%s", body)
	}
}

// TestSessionsSurviveARestart: a session outlives the receiver's restart
// (a new UI over the same sessions file); logging out, expiry and a
// revoked token still end it; the file holds no cookie and no token.
func TestSessionsSurviveARestart(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	file := filepath.Join(t.TempDir(), "dashboard-sessions.json")
	restart := func() *UI { return newUIKeeping(t, &now, "", file) }
	login := func(u *UI, tok string) map[string]string {
		w := do(u, http.MethodPost, "/ui/login", url.Values{"token": {tok}}.Encode(), nil)
		c := w.Result().Cookies()
		if w.Code != http.StatusSeeOther || len(c) != 1 {
			t.Fatalf("login: %d", w.Code)
		}
		return map[string]string{"Cookie": c[0].Name + "=" + c[0].Value}
	}
	u := restart()
	kept, gone := login(u, "c490_admin"), login(u, "c490_admin")
	if w := do(u, http.MethodPost, "/ui/logout", "", gone); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	b, err := os.ReadFile(file)
	st, _ := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 || strings.Contains(string(b), "c490_admin") || strings.Contains(string(b), strings.TrimPrefix(kept["Cookie"], cookieName+"=")) {
		t.Fatalf("the sessions file (mode %v) holds a secret or is missing: %v\n%s", st.Mode().Perm(), err, b)
	}

	u = restart()
	if w := do(u, http.MethodGet, "/ui/", "", kept); w.Code != 200 {
		t.Fatalf("a session after a restart: %d", w.Code)
	}
	if w := do(u, http.MethodGet, "/ui/", "", gone); w.Code != http.StatusSeeOther {
		t.Fatalf("a logged-out session after a restart: %d", w.Code)
	}
	u = restart()                // newUI's admins are live again
	delete(tokens, "c490_admin") // ca revoke --admin alice
	if w := do(u, http.MethodGet, "/ui/", "", kept); w.Code != http.StatusSeeOther {
		t.Fatalf("a session whose token was revoked, after a restart: %d", w.Code)
	}
	kept = login(restart(), "c490_admin")
	now = now.Add(13 * time.Hour)
	if w := do(restart(), http.MethodGet, "/ui/", "", kept); w.Code != http.StatusSeeOther {
		t.Fatalf("an expired session after a restart: %d", w.Code)
	}
	os.WriteFile(file, []byte("{torn"), 0o600)
	if u := restart(); len(u.sessions) != 0 {
		t.Fatal("a torn sessions file was trusted")
	}
	// A logout that cannot be saved must not come back with a restart.
	u = restart()
	out := login(u, "c490_admin")
	os.Mkdir(file+".tmp", 0o700) // the next save cannot write its temp file
	do(u, http.MethodPost, "/ui/logout", "", out)
	os.Remove(file + ".tmp")
	if w := do(restart(), http.MethodGet, "/ui/", "", out); w.Code != http.StatusSeeOther {
		t.Fatalf("a logout whose save failed came back after a restart: %d", w.Code)
	}
}

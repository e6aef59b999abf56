package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cis490/cis490/internal/testenv"
)

// hostPut sends one request as c to path (any endpoint).
func (c *client) hostPut(t *testing.T, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, c.rcv.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Cis490-Instance", "it-"+c.name)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func snapshotJSON(host, kernel string, failing bool) string {
	status, summary, fix := "ok", "ok", ""
	if failing {
		status, summary, fix = "fail", "1 failing: receiver-auth", "install the token from the host bundle"
	}
	return fmt.Sprintf(`{"schema":1,"host":%q,"version":"0.3.0","commit":"","at":%q,"ok":%v,"summary":%q,
"checks":[{"name":"config","status":"ok","finding":"parses","took_ms":1},{"name":"receiver-auth","status":%q,"finding":"the receiver refuses this host's credentials","fix":%q,"took_ms":2}],
"facts":{"kernel":%q,"clock_offset_s":0,"disk_free_bytes":50000000000}}`,
		host, time.Now().UTC().Format(time.RFC3339), !failing, summary, status, fix, kernel)
}

// newBrowser starts headless Chromium (Debian's, from Go with chromedp)
// for at most a minute, the receiver's certificate taken as it is: ctx,
// run to take steps and get to read a string, both failing the test on
// an error.
func newBrowser(t *testing.T) (ctx context.Context, run func(...chromedp.Action[chromedp.Void]), get func(chromedp.Action[string]) string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	run = func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	get = func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return ctx, run, get
}

// TestDashboard drives the dashboard in headless Chromium (Debian's, from
// Go with chromedp): the login page and never data before logging in; the
// fleet with a fatal-only and a silent host in the right order; a host
// page with its chart, failing checks and where it differs from the
// fleet; the alert history filtered. A screenshot is kept. A cross-site
// form post is refused.
func TestDashboard(t *testing.T) {
	testenv.Require(t, testenv.Chromium())
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir, rcv: newReceiverProc(t, dir), led: newLedger(), hosts: map[string]*client{}}
	f.rcv.extra = "[fleet_health]\nsilent_after = \"4s\"\nfatal_min_requests = 3\n"
	f.rcv.writeConfig()
	f.rcv.initCA()
	for _, h := range []string{"lab-fatal", "lab-ok", "lab-silent"} {
		out := filepath.Join(dir, "bundles", h)
		runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--host", h, "--out", out)
		f.hosts[h] = f.loadClient(h, out, "host", true)
	}
	adminDir := filepath.Join(dir, "bundles", "admin")
	runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--admin", "alice", "--out", adminDir)
	f.rcv.Start()

	// lab-silent speaks, then stops; lab-fatal fails every request;
	// lab-ok ships. Snapshots: lab-fatal's kernel differs from the others'.
	put := func(h, stream, q, body string) int {
		return f.hosts[h].do(http.MethodPut, h, stream, q, strings.NewReader(body), int64(len(body))).status
	}
	if s := put("lab-silent", "syslog", "offset=0", "a line\n"); s != 201 {
		t.Fatalf("lab-silent: %d", s)
	}
	for h, k := range map[string]string{"lab-ok": "6.1.0-28-amd64", "lab-silent": "6.1.0-28-amd64", "lab-fatal": "5.10.0-9-amd64"} {
		if s := f.hosts[h].hostPut(t, "/v1/host-health/"+h, snapshotJSON(h, k, h == "lab-fatal")); s != 200 {
			t.Fatalf("snapshot of %s: %d", h, s)
		}
	}
	time.Sleep(4500 * time.Millisecond) // lab-silent goes quiet, alone
	for i := range 4 {
		if s := put("lab-fatal", "syslog", "offset=nope", "x\n"); s != 400 {
			t.Fatalf("lab-fatal's bad request %d: %d", i, s)
		}
	}
	off := int64(0)
	for i := range 3 {
		line := fmt.Sprintf("ok line %d\n", i)
		if s := put("lab-ok", "syslog", "offset="+itoa(off), line); s != 201 {
			t.Fatalf("lab-ok: %d", s)
		}
		off += int64(len(line))
	}
	runCLI(t, "fleet-health", "--config", f.rcv.cfgPath)
	runCLI(t, "fleet-health", "--config", f.rcv.cfgPath) // confirmed: the alerts fire
	token, _ := os.ReadFile(filepath.Join(adminDir, "token"))
	base := f.rcv.URL()

	// Without a session: the login page, never data; a cross-site post is refused.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.rcv.pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/ui/", "/ui/host/lab-fatal", "/ui/alerts"} {
		resp, err := hc.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" || strings.Contains(string(b), "lab-fatal") {
			t.Fatalf("GET %s without a session: %d %q %s", p, resp.StatusCode, resp.Header.Get("Location"), b)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(url.Values{"token": {strings.TrimSpace(string(token))}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("a cross-site login post: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader("token=c490_not-a-token"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("a wrong token: %v %v", resp, err)
	}

	ctx, run, get := newBrowser(t)
	run(chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc, body := get(chromedp.Location()), get(chromedp.Text(chromedp.CSS("body"))); !strings.HasSuffix(loc, "/ui/login") || strings.Contains(body, "lab-") {
		t.Fatalf("before logging in the browser is at %s, showing %q", loc, body)
	}
	// lab-ok stays in touch (silent after 4 s, as configured).
	if s := f.hosts["lab-ok"].hostPut(t, "/v1/heartbeat/lab-ok", ""); s != 200 {
		t.Fatalf("lab-ok's heartbeat: %d", s)
	}
	run(chromedp.SendKeys(chromedp.ID("token"), strings.TrimSpace(string(token))), chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("fleet")))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr.host')].map(r => r.dataset.host + ' ' + r.dataset.state)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows, ", ") != "lab-fatal sick, lab-silent silent, lab-ok ok" {
		t.Fatalf("the fleet table, worst first: %q\n%s", rows, runCLI(t, "status", "--admin", adminDir, "--receiver", base, "--json"))
	}
	// It refreshes by itself (no script may run: a meta refresh).
	if refresh, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('meta[http-equiv="refresh"]')?.content ?? ""`)); err != nil || refresh != "30" {
		t.Errorf("the fleet page's refresh: %q %v; want every 30 s", refresh, err)
	}

	run(chromedp.Click(chromedp.CSS(`a[href="/ui/host/lab-fatal"]`)), chromedp.WaitVisible(chromedp.ID("chart")))
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#chart rect').length`))
	if err != nil {
		t.Fatal(err)
	}
	failing, deviations := get(chromedp.Text(chromedp.ID("failing"))), get(chromedp.Text(chromedp.ID("deviations")))
	if bars == 0 || !strings.Contains(failing, "receiver-auth") || !strings.Contains(failing, "install the token") ||
		!strings.Contains(deviations, "5.10.0-9-amd64") || !strings.Contains(deviations, "6.1.0-28-amd64") {
		t.Fatalf("lab-fatal's page: %d bars; failing %q; deviations %q", bars, failing, deviations)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifacts := os.Getenv("CIS490_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(os.TempDir(), "cis490-artifacts")
	}
	os.MkdirAll(artifacts, 0o755)
	png := filepath.Join(artifacts, "dashboard-host.png")
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", png)

	run(chromedp.Navigate(base+"/ui/host/lab-ok"), chromedp.WaitVisible(chromedp.CSS(".tail")))
	if streams := get(chromedp.Text(chromedp.CSS(".tail"))); !strings.Contains(streams, "ok line 2") {
		t.Fatalf("lab-ok's stream tail: %q", streams)
	}

	run(chromedp.Navigate(base+"/ui/alerts?host=lab-silent"), chromedp.WaitVisible(chromedp.ID("alerts")))
	alerts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr.alert')].map(r => r.cells[1].innerText + ' ' + r.cells[2].innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(alerts, "lab-silent silent") || slices.ContainsFunc(alerts, func(a string) bool { return !strings.HasPrefix(a, "lab-silent ") }) {
		t.Fatalf("the alerts filtered to lab-silent: %q", alerts)
	}
	run(chromedp.Navigate(base+"/ui/alerts?symptom=fatal-only"), chromedp.WaitVisible(chromedp.ID("alerts")))
	alerts, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr.alert')].map(r => r.cells[1].innerText + ' ' + r.cells[2].innerText)`))
	if err != nil || strings.Join(alerts, ",") != "lab-fatal fatal-only" {
		t.Fatalf("the alerts filtered to fatal-only: %q %v", alerts, err)
	}

	// The header's search box: a phrase typed and Enter, the lines come
	// back with their host and the summary.
	run(chromedp.SendKeys(chromedp.CSS(`form.search input[name="q"]`), "ok line 2\n"), chromedp.WaitVisible(chromedp.ID("summary")))
	if hits, sum := get(chromedp.Text(chromedp.ID("hits"))), get(chromedp.Text(chromedp.ID("summary"))); !strings.Contains(hits, "lab-ok") ||
		!strings.Contains(hits, "ok line 2") || !strings.Contains(sum, "complete") {
		t.Fatalf("searching the fleet for \"ok line 2\" from the header: hits %q, summary %q", hits, sum)
	}

	// The receiver killed and started again (a crash, an upgrade): the
	// browser is still logged in.
	f.rcv.Kill()
	f.rcv.Start()
	if f.rcv.URL() != base {
		t.Fatalf("the restarted receiver lost its port (%s, now %s) to another process: run the test again", base, f.rcv.URL())
	}
	run(chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if loc := get(chromedp.Location()); !strings.HasSuffix(loc, "/ui/") {
		t.Fatalf("after the receiver's restart the browser is at %s: logged out", loc)
	}
}

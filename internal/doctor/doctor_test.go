package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/shipper"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	oldCommit = "1111111111111111111111111111111111111111"
	newCommit = "3333333333333333333333333333333333333333"
)

// labHost writes a lab-host.toml for creds against url.
func labHost(t *testing.T, url string, c receivertest.Creds) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "app.log")
	os.WriteFile(log, []byte("hello\n"), 0o644)
	return labHostWith(t, url, c, log)
}

// labHostWith writes a lab-host.toml shipping sources.
func labHostWith(t *testing.T, url string, c receivertest.Creds, sources ...string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "lab-host.toml")
	toml := fmt.Sprintf("receiver = %q\nhost = %q\nstate_dir = %q\n[tls]\ncert = %q\nkey = %q\nca = %q\ntoken_file = %q\n",
		url, c.Name, filepath.Join(dir, "state"), c.Cert, c.Key, c.CA, c.Token)
	for _, s := range sources {
		toml += fmt.Sprintf("[[source]]\npath = %q\n", s)
	}
	os.WriteFile(p, []byte(toml), 0o644)
	return p
}

func startReceiver(t *testing.T) *receivertest.Receiver {
	return receivertest.Start(t, func(c *config.Receiver) {
		c.Gate.Releases = []config.Release{{Version: "0.1.0", Commit: oldCommit}, {Version: "0.2.0", Commit: newCommit}}
		c.Gate.Accept = 1
	})
}

func run(t *testing.T, cfg, commit string) *Report {
	t.Helper()
	return Run(context.Background(), Options{Config: cfg, Commit: commit, SystemdDir: filepath.Join(t.TempDir(), "no-systemd"),
		UpdateRoot: t.TempDir()})
}

func want(t *testing.T, r *Report, name string, st Status, finding string) {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			if c.Status != st || !strings.Contains(c.Finding, finding) {
				t.Errorf("%s: %s %q; want %s with %q", name, c.Status, c.Finding, st, finding)
			}
			if st == Fail && c.Fix == "" {
				t.Errorf("%s fails without a fix", name)
			}
			return
		}
	}
	t.Errorf("no check %s in %+v", name, r.Checks)
}

// TestHealthy: against a real receiver every check passes; the shipper
// has shipped nothing yet (a warning) and systemd does not run here (a
// skip).
func TestHealthy(t *testing.T) {
	r := startReceiver(t)
	cfg := labHost(t, r.URL, r.IssueHost("lab-1", time.Now().Add(-time.Hour), 90*24*time.Hour))
	rep := run(t, cfg, newCommit)
	for _, name := range []string{"config", "tls-files", "tls-chain", "tls-expiry", "token-file", "receiver-dns", "receiver-tcp",
		"receiver-tls", "receiver-auth", "clock", "code", "instance", "sources", "disk"} {
		want(t, rep, name, OK, "")
	}
	want(t, rep, "shipper", Warn, "shipped nothing yet")
	want(t, rep, "systemd", Skip, "systemd is not running here")
	if f := rep.Facts; f.Kernel == "" || f.ClockOffsetS == nil || *f.ClockOffsetS > 1 || *f.ClockOffsetS < -1 || f.DiskFree <= 0 {
		t.Errorf("facts measured: %+v", f)
	}
	if !rep.OK || rep.Host != "lab-1" || rep.Schema != Schema || !strings.HasPrefix(rep.Summary, "ok, 1 warning: shipper") {
		t.Fatalf("report %+v", rep)
	}
}

// TestReceiverDown fails fast: nothing listens at the receiver's address.
func TestReceiverDown(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	rep := run(t, labHost(t, "https://"+addr, c), newCommit)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the doctor took %s with the receiver down", took)
	}
	want(t, rep, "receiver-tcp", Fail, "cannot connect")
	want(t, rep, "receiver-auth", Skip, "")
	if rep.OK || !strings.Contains(rep.Summary, "receiver-tcp") {
		t.Fatalf("summary %q", rep.Summary)
	}
}

// TestSilentReceiver: a receiver that accepts connections and then says
// nothing costs its checks their timeouts, and the doctor still ends
// within 10 s.
func TestSilentReceiver(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	start := time.Now()
	rep := run(t, labHost(t, "https://"+ln.Addr().String(), c), newCommit)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the doctor took %s", took)
	}
	want(t, rep, "receiver-tcp", OK, "accepts connections")
	want(t, rep, "receiver-tls", Fail, "TLS with the receiver failed")
}

func TestExpiredCertificate(t *testing.T) {
	r := startReceiver(t)
	rep := run(t, labHost(t, r.URL, r.IssueHost("lab-1", time.Now().Add(-48*time.Hour), 24*time.Hour)), newCommit)
	want(t, rep, "tls-expiry", Fail, "expired at")
	want(t, rep, "receiver-auth", Fail, "expired")
}

func TestSoonExpiring(t *testing.T) {
	r := startReceiver(t)
	rep := run(t, labHost(t, r.URL, r.IssueHost("lab-1", time.Now().Add(-time.Hour), 5*24*time.Hour)), newCommit)
	want(t, rep, "tls-expiry", Warn, "expires in")
}

func TestForeignCA(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	other, err := pki.Init(t.TempDir(), []string{"elsewhere"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, _ := other.IssueHost("lab-1", time.Hour, time.Now())
	os.WriteFile(c.Cert, certPEM, 0o600)
	os.WriteFile(c.Key, keyPEM, 0o600)
	rep := run(t, labHost(t, r.URL, c), newCommit)
	want(t, rep, "tls-chain", Fail, "not a client certificate of this fleet's CA")
	want(t, rep, "receiver-auth", Fail, "refuses this host's credentials")
	// What the receiver tells only a host it accepted is not guessed at.
	want(t, rep, "code", Skip, "the receiver did not accept this host (see receiver-auth)")
	want(t, rep, "instance", Skip, "the receiver did not accept this host (see receiver-auth)")
}

// TestReceiverNameNotCovered: a receiver URL the server certificate does
// not cover is named with the names it does cover and the command that
// fixes it on the receiver.
func TestReceiverNameNotCovered(t *testing.T) {
	r := receivertest.Start(t, func(c *config.Receiver) { c.ServerNames = []string{"localhost"} })
	c := r.IssueHost("lab-1", time.Now().Add(-time.Hour), time.Hour)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(r.URL, "https://"))
	rep := run(t, labHost(t, "https://127.0.0.1:"+port, c), newCommit)
	want(t, rep, "receiver-tls", Fail, "the receiver's certificate covers localhost, not 127.0.0.1")
	for _, ch := range rep.Checks {
		if ch.Name == "receiver-tls" && !strings.Contains(ch.Fix, "cis490 ca server-cert --server-name 127.0.0.1") {
			t.Errorf("receiver-tls fix %q does not say what to run on the receiver", ch.Fix)
		}
	}
}

func TestTokenReadableByOthers(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	os.Chmod(c.Token, 0o644)
	rep := run(t, labHost(t, r.URL, c), newCommit)
	want(t, rep, "token-file", Fail, "mode 0644")
}

// TestTokenGroupReadable: a token its group can read is fine only in the
// installer's arrangement (a setgid folder whose group the file has).
func TestTokenGroupReadable(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	os.Chmod(c.Token, 0o640)
	want(t, run(t, labHost(t, r.URL, c), newCommit), "token-file", Warn, "its group can read")
	if err := os.Chmod(filepath.Dir(c.Token), 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	want(t, run(t, labHost(t, r.URL, c), newCommit), "token-file", OK, "mode 0640")
}

func TestStaleCommit(t *testing.T) {
	r := startReceiver(t)
	rep := run(t, labHost(t, r.URL, r.IssueHost("lab-1", time.Now(), time.Hour)), oldCommit)
	want(t, rep, "code", Fail, "a release the receiver no longer accepts (it accepts 0.2.0 "+newCommit+")")
}

// TestClockSkew: a receiver whose Date is 10 minutes ahead.
func TestClockSkew(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Init(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := tls.LoadX509KeyPair(filepath.Join(dir, pki.ServerCertFile), filepath.Join(dir, pki.ServerKeyFile))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(10*time.Minute).UTC().Format(http.TimeFormat))
		w.Header().Set("X-Cis490-Gate", "pass")
		w.WriteHeader(http.StatusNotFound)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	certPEM, keyPEM, _ := ca.IssueHost("lab-1", time.Hour, time.Now())
	files := map[string][]byte{"host.crt": certPEM, "host.key": keyPEM, "ca.crt": ca.CertPEM(), "token": []byte("c490_test\n")}
	for n, b := range files {
		os.WriteFile(filepath.Join(dir, n), b, 0o600)
	}
	c := receivertest.Creds{Name: "lab-1", Cert: filepath.Join(dir, "host.crt"), Key: filepath.Join(dir, "host.key"),
		CA: filepath.Join(dir, "ca.crt"), Token: filepath.Join(dir, "token")}
	rep := run(t, labHost(t, srv.URL, c), newCommit)
	want(t, rep, "clock", Fail, "off the receiver's")
}

// TestJSONSchema: the --json report's shape is the documented one.
func TestJSONSchema(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	r := &Report{Schema: Schema, Host: "lab-1", Instance: "9c2b4f0e51a7d3c8", Version: "0.3.0", Commit: newCommit, At: at,
		Checks: []Check{
			{Name: "config", Status: OK, Finding: "lab-host.toml parses", TookMS: 0.4},
			{Name: "tls-expiry", Status: Warn, Finding: "the certificate expires in 5d", Fix: "renew it now: cis490 cert-fetch", TookMS: 0.1},
			{Name: "receiver-tcp", Status: Fail, Finding: "cannot connect", Fix: "is the receiver running?", TookMS: 2000},
			{Name: "systemd", Status: Skip, Finding: "systemd is not running here"},
		}}
	off := -0.25
	r.Facts = Facts{Kernel: "6.1.0-28-amd64", ClockOffsetS: &off, DiskFree: 12 << 30}
	r.finish()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		os.WriteFile(golden, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("the --json schema changed (bump Schema if it is not an addition; -update rewrites):\n%s\nwant\n%s", buf.Bytes(), want)
	}
	var back Report
	if err := json.Unmarshal(want, &back); err != nil || back.Summary != "1 failing: receiver-tcp" || back.OK {
		t.Fatalf("golden report reads back as %+v, %v", back, err)
	}
}

// ok gives a check run directly the status runSteps would: ok unless set.
func ok(c Check) Check {
	if c.Status == "" {
		c.Status = OK
	}
	return c
}

// TestSystemdUnits: where systemd runs, the shipper must be active and
// the timers active and enabled; a unit this host does not have is "not
// installed", a warning, not a failure.
func TestSystemdUnits(t *testing.T) {
	sysdir := t.TempDir()
	for _, c := range []struct {
		name  string
		state map[string]string // unit -> systemctl show output
		st    Status
		has   string
	}{
		{"all well", map[string]string{}, OK, "active and enabled"},
		{"shipper failed", map[string]string{"cis490-shipper.service": "LoadState=loaded\nActiveState=failed\nUnitFileState=enabled"}, Fail, "cis490-shipper.service failed"},
		{"shipper restarting", map[string]string{"cis490-shipper.service": "LoadState=loaded\nActiveState=activating\nUnitFileState=enabled"}, OK, ""},
		{"timer not enabled", map[string]string{"cis490-autoupdate.timer": "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled"}, Warn, "cis490-autoupdate.timer inactive, disabled"},
		{"timers not installed", map[string]string{
			"cis490-autoupdate.timer": "LoadState=not-found\nActiveState=inactive\nUnitFileState=",
			"cis490-cert-fetch.timer": "LoadState=not-found\nActiveState=inactive\nUnitFileState="}, Warn, "cis490-autoupdate.timer, cis490-cert-fetch.timer not installed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := &env{opt: Options{SystemdDir: sysdir, Systemctl: func(_ context.Context, args ...string) (string, error) {
				unit := args[len(args)-1]
				if s, ok := c.state[unit]; ok {
					return s, nil
				}
				return "LoadState=loaded\nActiveState=active\nUnitFileState=enabled", nil
			}}}
			got := ok(checkUnits(context.Background(), e))
			if got.Status != c.st || !strings.Contains(got.Finding, c.has) {
				t.Fatalf("%s %q; want %s with %q", got.Status, got.Finding, c.st, c.has)
			}
		})
	}
}

// TestShipperBacklog: a fresh line inside the batch window is fine; bytes
// written an hour ago and not shipped mean a stuck shipper.
func TestShipperBacklog(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	src := filepath.Join(dir, "app.log")
	os.WriteFile(src, []byte("shipped line\n"), 0o644)
	cps, err := shipper.OpenCheckpoints(filepath.Join(state, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(src)
	id, err := shipper.Identify(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := cps.Save(shipper.Checkpoint{Stream: "app.log", Path: src, Gen: id, Acked: 13}); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultLabHost()
	cfg.StateDir = state
	e := &env{cfg: &cfg, now: time.Now()}
	if c := ok(checkShipper(context.Background(), e)); c.Status != OK || !strings.Contains(c.Finding, "nothing waiting") {
		t.Fatalf("caught up: %s %q", c.Status, c.Finding)
	}
	fh, _ := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("a fresh line\n")
	fh.Close()
	if c := ok(checkShipper(context.Background(), e)); c.Status != OK || !strings.Contains(c.Finding, "app.log 13 bytes") {
		t.Fatalf("a fresh line: %s %q", c.Status, c.Finding)
	}
	old := e.now.Add(-2*time.Hour - time.Minute)
	os.Chtimes(src, old, old)
	if c := ok(checkShipper(context.Background(), e)); c.Status != Fail || !strings.Contains(c.Finding, "for 2h or more") {
		t.Fatalf("stuck for 2 h: %s %q", c.Status, c.Finding)
	}

	// Losses: a warning for a day after the last, with the fix; never a
	// failure (autoupdate's rollback reads failures).
	if c := ok(checkLosses(context.Background(), e)); c.Status != OK || !strings.Contains(c.Finding, "no logs lost") {
		t.Fatalf("no loss: %s %q", c.Status, c.Finding)
	}
	cp, _ := cps.Load("app.log")
	cp.LastLoss = &shipper.Loss{At: e.now.Add(-3 * time.Hour), Bytes: 1250000, Cause: wire.LostRotatedAway}
	cps.Save(cp)
	if c := ok(checkLosses(context.Background(), e)); c.Status != Warn || !strings.Contains(c.Finding, "at least 1.2 MiB of app.log were lost for good 3h") ||
		!strings.Contains(c.Fix, "keep more generations") {
		t.Fatalf("a loss 3 h ago: %s %q, fix %q", c.Status, c.Finding, c.Fix)
	}
	cp.LastLoss.At = e.now.Add(-25 * time.Hour)
	cps.Save(cp)
	if c := ok(checkLosses(context.Background(), e)); c.Status != OK {
		t.Fatalf("a loss 25 h ago: %s %q; want ok after a day", c.Status, c.Finding)
	}
}

// TestClone: another installation speaking as this host right now is a
// clone (fail); one that spoke earlier in the day is a reinstall or a
// clone that is off (warn).
func TestClone(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	other, err := transport.New(transport.Options{Receiver: r.URL, Host: "lab-1", CertFile: c.Cert, KeyFile: c.Key, CAFile: c.CA,
		TokenFile: c.Token, Instance: "a-clone", Commit: newCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Heartbeat(context.Background(), wire.StateUp); err != nil {
		t.Fatal(err)
	}
	rep := run(t, labHost(t, r.URL, c), newCommit)
	want(t, rep, "instance", Fail, "another installation (a-clone) is speaking as lab-1 right now")
}

// TestBudgetSpent: once the doctor's time is spent the checks left are
// skipped, not failed; a step that hangs is abandoned at its deadline.
func TestBudgetSpent(t *testing.T) {
	hang := func(ctx context.Context, _ *env) Check { select {} }
	quick := func(context.Context, *env) Check { return Check{Finding: "fine"} }
	start := time.Now()
	out := runSteps(context.Background(), &env{}, []step{
		{"hangs", 200 * time.Millisecond, hang, false},
		{"network", time.Second, quick, false},
		{"local", time.Second, quick, true},
		{"slow", 2 * time.Second, func(ctx context.Context, _ *env) Check {
			<-ctx.Done()
			return Check{Status: Fail, Finding: "timed out"}
		}, true},
		{"after", time.Second, quick, true},
	}, 800*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	got := fmt.Sprint(out[0].Status, out[1].Status, out[2].Status, out[3].Status, out[4].Status)
	if got != "failskipokfailskip" || !strings.Contains(out[4].Finding, "were spent") || !strings.Contains(out[1].Finding, "hangs did not finish") {
		t.Fatalf("statuses %s: %+v", got, out)
	}
}

// TestAutoupdateOutcome: a rolled-back update is reported with the checks
// the new release failed.
func TestAutoupdateOutcome(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "last-update.json"), []byte(`{"at":"2026-11-27T03:00:00Z","from":"1.1.0","to":"1.2.0","result":"rolled-back","new_failures":["receiver-auth"]}`), 0o644)
	e := &env{opt: Options{UpdateRoot: root}, now: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)}
	c := ok(checkAutoupdate(context.Background(), e))
	if c.Status != Warn || !strings.Contains(c.Finding, "1.2.0 failed receiver-auth here") {
		t.Fatalf("%s %q", c.Status, c.Finding)
	}
	if c := ok(checkAutoupdate(context.Background(), &env{opt: Options{UpdateRoot: t.TempDir()}})); c.Status != Skip {
		t.Fatalf("never ran: %s", c.Status)
	}
}

// TestSources: the doctor opens each configured log; one not there yet
// warns, and none configured warns that the host ships nothing.
func TestSources(t *testing.T) {
	r := startReceiver(t)
	c := r.IssueHost("lab-1", time.Now(), time.Hour)
	want(t, run(t, labHostWith(t, r.URL, c), newCommit), "sources", Warn, "no [[source]] configured")

	logs := t.TempDir()
	os.WriteFile(filepath.Join(logs, "a.log"), []byte("x\n"), 0o644)
	os.WriteFile(filepath.Join(logs, "b.log"), []byte("y\n"), 0o644)
	cfg := labHostWith(t, r.URL, c, filepath.Join(logs, "*.log"), filepath.Join(logs, "app.log"))
	want(t, run(t, cfg, newCommit), "sources", Warn, "1 of 2 sources readable (2 files); nothing there yet: "+filepath.Join(logs, "app.log"))
	os.WriteFile(filepath.Join(logs, "app.log"), nil, 0o644)
	want(t, run(t, cfg, newCommit), "sources", OK, "2 of 2 sources readable (4 files)")
}

package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/proxyproto"
)

// ---------------------------------------------------------------------------
// The receiver as a real process.

// receiverProc runs `cis490 receiver` on 127.0.0.1 over one data folder and
// can stop it (SIGTERM), kill it (SIGKILL) and start it again on the same
// data. Its port stays the same across restarts unless a bind race forces a
// new one; clients read URL() before every request.
type receiverProc struct {
	t       *testing.T
	dir     string // holds receiver.toml, receiver.log and data/
	cfgPath string
	dataDir string
	logPath string
	pool    *x509.CertPool // the fleet CA, set once `ca init` ran
	extra   string         // top-level lines added to receiver.toml
	limits  string         // lines added to its [limits]
	proxied bool           // connections from loopback must start with a PROXY header (proxy_protocol_from)

	port   int
	url    atomic.Pointer[string]
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	starts int
}

func newReceiverProc(t *testing.T, dir string) *receiverProc {
	r := &receiverProc{t: t, dir: dir, cfgPath: filepath.Join(dir, "receiver.toml"),
		dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "receiver.log")}
	r.port = freePort(t)
	r.writeConfig()
	t.Cleanup(func() {
		if r.running() {
			r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("receiver log tail (%s):\n%s", r.logPath, tailFile(r.logPath, 40))
		}
	})
	return r
}

func (r *receiverProc) writeConfig() {
	cfg := fmt.Sprintf(`# written by the cis490 integration tests
listen = "127.0.0.1:%d"
data_dir = %q
server_names = ["127.0.0.1", "localhost"]
shutdown_timeout = "10s"
%s

[limits]
min_free = 0
%s
[quota]
host_bytes_per_day = 0
host_bytes_total = 0
`, r.port, r.dataDir, r.extra, r.limits)
	if err := os.WriteFile(r.cfgPath, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
	u := "https://127.0.0.1:" + strconv.Itoa(r.port)
	r.url.Store(&u)
}

// initCA runs `ca init` and trusts the new CA.
func (r *receiverProc) initCA() {
	r.t.Helper()
	runCLI(r.t, "ca", "init", "--config", r.cfgPath)
	caPEM, err := os.ReadFile(filepath.Join(r.dataDir, "ca", "ca.crt"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.pool = x509.NewCertPool()
	if !r.pool.AppendCertsFromPEM(caPEM) {
		r.t.Fatal("ca.crt holds no certificate")
	}
}

// URL is the receiver's base URL, like https://127.0.0.1:PORT.
func (r *receiverProc) URL() string { return *r.url.Load() }

func (r *receiverProc) running() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Start starts the receiver and waits until GET /healthz answers 200 over
// TLS verified with the fleet CA. A lost race for the port is retried on a
// new one; any other failure to come up fails the test.
func (r *receiverProc) Start() time.Duration {
	r.t.Helper()
	if r.running() {
		r.t.Fatal("receiver already running")
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.port = freePort(r.t)
			r.writeConfig()
		}
		r.starts++
		logf, err := os.OpenFile(r.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			r.t.Fatal(err)
		}
		st, _ := logf.Stat()
		logStart := st.Size()
		fmt.Fprintf(logf, "=== start %d on port %d\n", r.starts, r.port)
		cmd := exec.Command(binPath, "receiver", "--config", r.cfgPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		began := time.Now()
		if err := cmd.Start(); err != nil {
			logf.Close()
			r.t.Fatalf("start receiver: %v", err)
		}
		logf.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		r.cmd, r.exited = cmd, exited
		err = r.waitReady(15 * time.Second)
		if err == nil {
			return time.Since(began)
		}
		out := readFrom(r.logPath, logStart)
		if !r.running() && strings.Contains(out, "address already in use") && attempt < 5 {
			continue
		}
		r.t.Fatalf("receiver start %d did not become ready: %v\nlog:\n%s", r.starts, err, out)
	}
}

func (r *receiverProc) waitReady(limit time.Duration) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool}, DisableKeepAlives: true}
	if r.proxied {
		tr.DialContext = proxyproto.DialAsBalancer
	}
	hc := &http.Client{Timeout: time.Second, Transport: tr}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("receiver exited (%v) before it was ready", r.cmd.ProcessState)
		default:
		}
		resp, err := hc.Get(r.URL() + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz answered %s", resp.Status)
		}
		last = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", limit, last)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (r *receiverProc) Kill() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil && r.running() {
		r.t.Fatalf("kill receiver: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.t.Fatal("receiver still running 10s after SIGKILL")
	}
}

// Stop sends SIGTERM and waits up to limit for the process to exit. It
// returns the exit status (-1 when killed by a signal) and how long it took;
// a process still running after limit is killed and fails the test.
func (r *receiverProc) Stop(limit time.Duration) (int, time.Duration) {
	r.t.Helper()
	began := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatalf("SIGTERM receiver: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(limit):
		r.cmd.Process.Kill()
		<-r.exited
		r.t.Fatalf("receiver still running %s after SIGTERM", limit)
	}
	return r.cmd.ProcessState.ExitCode(), time.Since(began)
}

func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

func tailFile(path string, lines int) string {
	b, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// TestServerCertReachesRunningReceiver: `ca server-cert` adds a name to
// the receiver's certificate from the same CA, and the running receiver
// serves it without a restart, to a client that trusts only the CA it
// had before.
func TestServerCertReachesRunningReceiver(t *testing.T) {
	r := newReceiverProc(t, t.TempDir())
	r.initCA()
	r.Start()
	addr := strings.TrimPrefix(r.URL(), "https://")
	if err := dialAs(r.pool, addr, "lab-pi.local"); err == nil {
		t.Fatal("the receiver's certificate covers lab-pi.local before it was asked to")
	}
	out := runCLI(t, "ca", "server-cert", "--config", r.cfgPath, "--server-name", "lab-pi.local")
	if !strings.Contains(out, "now covers 127.0.0.1, localhost, lab-pi.local (it covered localhost, 127.0.0.1)") {
		t.Fatalf("ca server-cert said:\n%s", out)
	}
	// The receiver looks for a new certificate every 10 s.
	eventually(t, 15*time.Second, func() string {
		if err := dialAs(r.pool, addr, "lab-pi.local"); err != nil {
			return "the running receiver still serves its old certificate: " + err.Error()
		}
		return ""
	})
	if !r.running() {
		t.Fatal("the receiver stopped")
	}
}

// waitTLS waits until the receiver at addr completes a handshake for name
// with the CA in dir/data/ca.
func waitTLS(t *testing.T, dir, addr, name string, limit time.Duration) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "data", "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	eventually(t, limit, func() string {
		if err := dialAs(pool, addr, name); err != nil {
			return "the receiver is not up: " + err.Error()
		}
		return ""
	})
}

// dialAs completes a TLS handshake with addr, verifying its certificate
// for name against roots.
func dialAs(roots *x509.CertPool, addr, name string) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: name})
	if err != nil {
		return err
	}
	return c.Close()
}

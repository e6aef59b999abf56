package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/testseed"
)

// binPath is the cis490 binary TestMain builds once for the whole package.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cis490-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	code := func() int {
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "integration: build cis490:", err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./cmd/cis490 from the module root into dir.
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("not inside the cis490 module (go env GOMOD is empty)")
	}
	binPath = filepath.Join(dir, "cis490")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", binPath, "./cmd/cis490")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// testSeed returns the -seed flag or a time-based seed, and logs it.
func testSeed(t *testing.T) int64 { return int64(testseed.Get(t)) }

// runCLI runs the cis490 binary and returns its stdout; it fails the test
// on a non-zero exit.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binPath, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cis490 %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

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

[quota]
host_bytes_per_day = 0
host_bytes_total = 0
`, r.port, r.dataDir, r.extra)
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
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: r.pool}, DisableKeepAlives: true}}
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

// ---------------------------------------------------------------------------
// A fleet: CA, hosts and an admin made with the CLI.

type fleet struct {
	t     *testing.T
	dir   string
	rcv   *receiverProc
	led   *ledger
	admin *client
	hosts map[string]*client
}

// newFleet makes receiver.toml, runs `ca init`, issues a bundle for every
// host and one admin bundle with `ca issue`, and loads them as clients.
// keepAlive=false gives every request its own connection.
func newFleet(t *testing.T, hosts []string, keepAlive bool) *fleet {
	t.Helper()
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir, rcv: newReceiverProc(t, dir), led: newLedger(), hosts: map[string]*client{}}
	f.rcv.initCA()
	for _, h := range hosts {
		out := filepath.Join(dir, "bundles", h)
		runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--host", h, "--out", out)
		f.hosts[h] = f.loadClient(h, out, "host", keepAlive)
	}
	out := filepath.Join(dir, "bundles", "admin")
	runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--admin", "it-admin", "--out", out)
	f.admin = f.loadClient("it-admin", out, "admin", true)
	return f
}

func (f *fleet) loadClient(name, dir, kind string, keepAlive bool) *client {
	f.t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, kind+".crt"), filepath.Join(dir, kind+".key"))
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		f.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		f.t.Fatal(err)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 4,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &client{name: name, token: strings.TrimSpace(string(tok)), rcv: f.rcv, led: f.led,
		hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// ---------------------------------------------------------------------------
// Clients and the ledger of answered requests.

// client speaks the receiver's API with one set of credentials.
type client struct {
	name  string
	token string
	hc    *http.Client
	rcv   *receiverProc
	led   *ledger
}

// result is one request's outcome as the client saw it.
type result struct {
	status int
	header http.Header
	body   []byte
	err    error // transport failure: no answer
	wrote  bool  // the request headers were written to a connection
	local  string
	start  time.Time
	end    time.Time
}

// length reads {"length": L} from a JSON answer.
func (r result) length() (int64, bool) {
	var v struct {
		Length *int64 `json:"length"`
	}
	if json.Unmarshal(r.body, &v) != nil || v.Length == nil {
		return 0, false
	}
	return *v.Length, true
}

// do sends one request to /v1/logs/{host}[/{stream}]. body may be nil; n is
// its length. Every answered request is recorded in the ledger.
func (c *client) do(method, host, stream, query string, body io.Reader, n int64) result {
	path := "/v1/logs/" + host
	if stream != "" {
		path += "/" + stream
	}
	if query != "" {
		path += "?" + query
	}
	res := result{start: time.Now()}
	req, err := http.NewRequest(method, c.rcv.URL()+path, body)
	if err != nil {
		res.err = err
		return res
	}
	if body != nil {
		req.ContentLength = n
		if n == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "cis490/integration-test")
	req.Header.Set("X-Cis490-Instance", "it-"+c.name)
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) {
			mu.Lock()
			res.local = ci.Conn.LocalAddr().String()
			mu.Unlock()
		},
		WroteHeaders: func() {
			mu.Lock()
			res.wrote = true
			mu.Unlock()
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
	resp, err := c.hc.Do(req)
	if err == nil {
		res.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		res.status, res.header = resp.StatusCode, resp.Header
	}
	res.end = time.Now()
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		res.err = err
		if res.status != 0 {
			// The answer started but its body broke: the receiver did answer.
			c.led.add(ledgerKey(res.local, method, host, stream, res.status, n))
		}
		return res
	}
	c.led.add(ledgerKey(res.local, method, host, stream, res.status, n))
	return res
}

// head returns a stream's length; 404 is length 0.
func (c *client) head(host, stream string) (int64, result) {
	r := c.do(http.MethodHead, host, stream, "", nil, 0)
	if r.err != nil {
		return 0, r
	}
	if r.status == http.StatusNotFound {
		return 0, r
	}
	if r.status != http.StatusOK {
		r.err = fmt.Errorf("HEAD %s/%s answered %d: %s", host, stream, r.status, r.body)
		return 0, r
	}
	n, err := strconv.ParseInt(r.header.Get("X-Cis490-Length"), 10, 64)
	if err != nil {
		r.err = fmt.Errorf("HEAD %s/%s: X-Cis490-Length %q: %v", host, stream, r.header.Get("X-Cis490-Length"), err)
	}
	return n, r
}

// read returns up to limit stored bytes from offset (admin only).
func (c *client) read(host, stream string, offset, limit int64) ([]byte, error) {
	r := c.do(http.MethodGet, host, stream, fmt.Sprintf("offset=%d&limit=%d", offset, limit), nil, 0)
	if r.err != nil {
		return nil, r.err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("GET %s/%s offset %d: %d %s", host, stream, offset, r.status, r.body)
	}
	return r.body, nil
}

// readAll reads [0, length) in 8 MiB pieces.
func (c *client) readAll(host, stream string, length int64) ([]byte, error) {
	out := make([]byte, 0, length)
	for int64(len(out)) < length {
		b, err := c.read(host, stream, int64(len(out)), min(8<<20, length-int64(len(out))))
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("GET %s/%s offset %d returned nothing below length %d", host, stream, len(out), length)
		}
		out = append(out, b...)
	}
	return out, nil
}

// ledger counts the answered requests by what their index line must say.
type ledger struct {
	mu sync.Mutex
	n  map[string]int
}

func newLedger() *ledger { return &ledger{n: map[string]int{}} }

func (l *ledger) add(key string) {
	l.mu.Lock()
	l.n[key]++
	l.mu.Unlock()
}

func (l *ledger) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.n))
	for k, v := range l.n {
		out[k] = v
	}
	return out
}

// ledgerKey identifies a request by what both the client and the index line
// know of it: the client's address (the line's remote), method, host and
// status, and for a PUT its stream and body size.
func ledgerKey(remote, method, host, stream string, status int, bytes int64) string {
	if method != http.MethodPut {
		stream, bytes = "", 0
	}
	return fmt.Sprintf("%s %s %s/%s %d %d", remote, method, host, stream, status, bytes)
}

// ---------------------------------------------------------------------------
// The index.

// indexFile is what readIndex found.
type indexFile struct {
	lines  int
	keys   map[string]int // ledgerKey of each line
	status map[string]int // "METHOD endpoint status" -> count
}

// indexKeys are the keys SPEC "The index" promises on every line.
var indexKeys = []string{"ts", "host", "auth", "cert_host", "method", "endpoint", "status", "bytes", "commit", "instance", "reason", "remote", "dur_ms"}

// readIndex parses every line of every index file in dataDir. With
// allowTorn a last line without its newline is skipped (and reported);
// otherwise it is an error, as is any line that is not a contract line.
func readIndex(t *testing.T, dataDir string, allowTorn bool) indexFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "index", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no index files in %s", filepath.Join(dataDir, "index"))
	}
	sort.Strings(files)
	ix := indexFile{keys: map[string]int{}, status: map[string]int{}}
	bad := 0
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			cut := bytes.LastIndexByte(b, '\n') + 1
			if !allowTorn || len(b)-cut > 64<<10 {
				t.Errorf("index %s ends in a torn line (%d bytes without a newline): %q", filepath.Base(path), len(b)-cut, clip(b[cut:], 120))
			}
			b = b[:cut]
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for lineNo := 1; sc.Scan(); lineNo++ {
			ix.lines++
			var m map[string]json.RawMessage
			var l struct {
				TS       string  `json:"ts"`
				Host     string  `json:"host"`
				Method   string  `json:"method"`
				Endpoint string  `json:"endpoint"`
				Status   int     `json:"status"`
				Bytes    int64   `json:"bytes"`
				Remote   string  `json:"remote"`
				Stream   string  `json:"stream"`
				DurMS    float64 `json:"dur_ms"`
			}
			err := json.Unmarshal(sc.Bytes(), &m)
			if err == nil {
				err = json.Unmarshal(sc.Bytes(), &l)
			}
			if err == nil {
				for _, k := range indexKeys {
					if _, ok := m[k]; !ok {
						err = fmt.Errorf("no %q key", k)
						break
					}
				}
			}
			if err == nil {
				if _, perr := time.Parse(time.RFC3339Nano, l.TS); perr != nil || !strings.HasSuffix(l.TS, "Z") {
					err = fmt.Errorf("ts %q is not RFC 3339 UTC", l.TS)
				}
			}
			if err != nil {
				if bad++; bad <= 5 {
					t.Errorf("index %s line %d does not parse (%v): %q", filepath.Base(path), lineNo, err, clip(sc.Bytes(), 200))
				}
				continue
			}
			ix.keys[ledgerKey(l.Remote, l.Method, l.Host, l.Stream, l.Status, l.Bytes)]++
			ix.status[fmt.Sprintf("%s %s %d", l.Method, l.Endpoint, l.Status)]++
		}
		if err := sc.Err(); err != nil {
			t.Errorf("read index %s: %v", path, err)
		}
	}
	return ix
}

// checkLedger compares the answered requests with the index lines: every
// answered request has its line (exact=false), and with exact also no line
// describes a request that was not answered.
func checkLedger(t *testing.T, led map[string]int, ix indexFile, exact bool) {
	t.Helper()
	var missing, extra []string
	for k, n := range led {
		if ix.keys[k] < n {
			missing = append(missing, fmt.Sprintf("%s (answered %d, index %d)", k, n, ix.keys[k]))
		}
	}
	if exact {
		for k, n := range ix.keys {
			if led[k] < n {
				extra = append(extra, fmt.Sprintf("%s (answered %d, index %d)", k, led[k], n))
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("%d answered request(s) have no index line, e.g. %s", len(missing), strings.Join(missing[:min(5, len(missing))], "; "))
	}
	if len(extra) > 0 {
		t.Errorf("%d index line(s) describe requests that got no answer, e.g. %s", len(extra), strings.Join(extra[:min(5, len(extra))], "; "))
	}
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// ---------------------------------------------------------------------------
// Deterministic stream content.

const blockSize = 64 << 10

// content is a stream's bytes as a pure function of (seed, stream, offset):
// 64 KiB blocks of ChaCha8 output, each keyed by its index. Any offset can
// be regenerated, so a client resends exactly what it sent before and the
// checker knows every byte a stream must hold.
type content struct {
	seed int64
	name string // host/stream
}

func (c content) block(i int64) []byte {
	key := sha256.Sum256(fmt.Appendf(nil, "cis490-integration/%d/%s/%d", c.seed, c.name, i))
	b := make([]byte, blockSize)
	rand.NewChaCha8(key).Read(b)
	return b
}

// at returns bytes [off, off+n).
func (c content) at(off, n int64) []byte {
	out := make([]byte, 0, n)
	for n > 0 {
		skip := off % blockSize
		k := min(n, blockSize-skip)
		out = append(out, c.block(off / blockSize)[skip:skip+k]...)
		off, n = off+k, n-k
	}
	return out
}

// firstDiff describes where got differs from the content at off.
func (c content) firstDiff(off int64, got []byte) string {
	want := c.at(off, int64(len(got)))
	for i := range got {
		if got[i] != want[i] {
			j := i
			for j < len(got) && got[j] == 0 {
				j++
			}
			zeros := ""
			if j > i {
				zeros = fmt.Sprintf(" (%d zero bytes from there)", j-i)
			}
			return fmt.Sprintf("first differing byte at offset %d: got %#02x, want %#02x%s", off+int64(i), got[i], want[i], zeros)
		}
	}
	return ""
}

// logSize draws a chunk size in [1, max], log-uniform: as many tiny chunks
// as large ones.
func logSize(r *rand.Rand, max int) int64 {
	bits := 0
	for 1<<bits < max {
		bits++
	}
	for {
		n := int64(1) << r.IntN(bits+1)
		n += r.Int64N(n)
		if n >= 1 && n <= int64(max) {
			return n
		}
	}
}

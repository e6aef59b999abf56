package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/token"
)

// fixture is a real receiver on loopback with real certificates.
type fixture struct {
	t      *testing.T
	url    string
	dir    string
	ca     *pki.CA
	caPool *x509.CertPool
	store  *store.Store
	tokens string // tokens.json path
	srv    *Server
}

type fixtureOpts struct {
	store   store.Options
	server  Options
	release []gate.Release
	accept  int
	wrap    func(store.Streams) store.Streams // fault injection around the real store
	// lockWait bounds a request's wait for the trust lock (zero: the default).
	lockWait time.Duration
}

// newFixture starts a receiver over a real TLS listener in a temp folder.
func newFixture(t *testing.T, fo fixtureOpts) *fixture {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.Init(datadir.Dir(dir).CA(), []string{"receiver.test", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	st, ix := openStorage(t, dir, fo.store)
	tokPath := datadir.Dir(dir).Tokens()
	toks, err := token.Open(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	opt := fo.server
	opt.Store, opt.Index, opt.Verifier, opt.Tokens = st, ix, pki.NewVerifier(ca.Cert), toks
	if opt.LineRoom == nil {
		opt.LineRoom = st.RoomForLines // as receiverd does
	}
	if opt.HostHealth == nil {
		opt.HostHealth = hosthealth.Folder(datadir.Dir(dir).HostHealth())
	}
	if fo.wrap != nil {
		opt.Store = fo.wrap(st)
	}
	opt.Gate = gate.New(fo.release, fo.accept)
	revoked, err := pki.OpenRevocations(datadir.Dir(dir).Revoked())
	if err != nil {
		t.Fatal(err)
	}
	opt.Verifier.WithRevocations(revoked)
	opt.Enroll = &Enroller{CA: ca, DataDir: dir, Lifetime: 24 * time.Hour, Grace: 30 * 24 * time.Hour, LockWait: fo.lockWait}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(datadir.Dir(dir).ServerCert(), datadir.Dir(dir).ServerKey())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, srv, TLSConfig(ca.Cert, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }), 5*time.Second, opt.Log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &fixture{t: t, url: "https://" + ln.Addr().String(), dir: dir, ca: ca, caPool: pool, store: st, tokens: tokPath, srv: srv}
}

// openStorage opens the store and the journaled index over one group sync,
// as receiverd does (importing it here would be a cycle). Registered before
// the server's, its cleanups run after the server stopped.
func openStorage(t *testing.T, dir string, so store.Options) (*store.Store, *index.Writer) {
	t.Helper()
	g := groupsync.New()
	ctx, cancel := context.WithCancel(context.Background())
	synced := make(chan struct{})
	go func() { g.Run(ctx); close(synced) }()
	t.Cleanup(func() {
		cancel()
		<-synced
		if err := g.Err(); err != nil {
			t.Errorf("storage sync: %v", err)
		}
	})
	ix, err := index.OpenWriter(nil, datadir.Dir(dir).Index(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	so.Dir, so.Sync, so.OnJournal, so.JournalSafe = datadir.Dir(dir).Logs(), g, ix.Collect, ix.Sync
	st, err := store.Open(so)
	if err != nil {
		ix.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := errors.Join(ix.Close(), st.Close()); err != nil {
			t.Errorf("close storage: %v", err)
		}
	})
	seq, known := st.JournalSeq()
	if err := ix.Recover(st, seq, known); err != nil {
		t.Fatal(err)
	}
	return st, ix
}

// cred is a client's certificate (may be nil) and token (may be empty).
type cred struct {
	cert  *tls.Certificate
	token string
}

func (f *fixture) pair(certPEM, keyPEM []byte) *tls.Certificate {
	f.t.Helper()
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		f.t.Fatal(err)
	}
	return &c
}

// host issues a certificate and token for a host.
func (f *fixture) host(name string) cred {
	f.t.Helper()
	c, k, err := f.ca.IssueHost(name, time.Hour, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := token.Files(f.tokens).Add(token.KindHost, name, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return cred{cert: f.pair(c, k), token: tok}
}

// admin issues an admin certificate and token.
func (f *fixture) admin(name string) cred {
	f.t.Helper()
	c, k, err := f.ca.IssueAdmin(name, time.Hour, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := token.Files(f.tokens).Add(token.KindAdmin, name, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return cred{cert: f.pair(c, k), token: tok}
}

func (f *fixture) client(c cred) *http.Client {
	tc := &tls.Config{RootCAs: f.caPool, ServerName: "receiver.test"}
	if c.cert != nil {
		cert := c.cert
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

type reply struct {
	status int
	body   string
	header http.Header
}

// do sends one request with c's credentials.
func (f *fixture) do(c cred, method, path string, body string, hdr map[string]string) reply {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if strings.Contains(path, "%") { // keep escapes as sent
		req.URL.RawPath = strings.SplitN(path, "?", 2)[0]
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	cl := f.client(c)
	defer cl.CloseIdleConnections() // a connection per call would pile up
	resp, err := cl.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

// stall starts a PUT of length bytes whose body stops after its first
// byte, until the test ends.
func (f *fixture) stall(c cred, path string, length int64) {
	f.t.Helper()
	pr, pw := io.Pipe()
	f.t.Cleanup(func() { pw.Close() })
	req, err := http.NewRequest("PUT", f.url+path, pr)
	if err != nil {
		f.t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("Authorization", "Bearer "+c.token)
	go f.client(c).Do(req)
	pw.Write([]byte("y"))
}

// indexLines reads every index line written so far.
func (f *fixture) indexLines() []index.Line {
	f.t.Helper()
	var out []index.Line
	_, st, err := index.Dir{Path: datadir.Dir(f.dir).Index()}.Read(f.t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		out = append(out, *l)
	})
	if err != nil || st.Malformed != 0 {
		f.t.Fatalf("read index: %v, %d malformed lines", err, st.Malformed)
	}
	return out
}

// filesOutside lists files in the fixture folder other than the expected ones.
func (f *fixture) unexpectedFiles() []string {
	var out []string
	filepath.Walk(f.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(f.dir, p)
		switch {
		case strings.HasPrefix(rel, "ca/"), strings.HasPrefix(rel, "index/"), rel == "tokens.json", rel == "tokens.json.lock",
			strings.HasPrefix(rel, "logs/seg-"):
		default:
			out = append(out, rel)
		}
		return nil
	})
	return out
}

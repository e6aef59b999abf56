// Package transport is the one HTTP client every host-side command uses to
// talk to the receiver: mutual TLS with the host's certificate (re-read when
// it changes on disk, so a renewed certificate is used without a restart),
// the bearer token, and the headers every cis490 client sends — the code
// commit stamp, the instance id and the User-Agent — with timeouts on every
// step. The shipper, the doctor snapshot and the autoupdate client call it;
// none of them builds its own client.
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/buildinfo"
	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/wire"
)

// Options configure a Client.
type Options struct {
	Receiver  string // https://host:port
	Host      string // canonical host name
	CertFile  string
	KeyFile   string
	CAFile    string
	TokenFile string

	Commit    string // X-Cis490-Code-Commit; default: this build's commit
	Unstamped bool   // send no stamp at all, as shippers older than the stamp did
	Instance  string // X-Cis490-Instance; default: derived from the machine id
	UserAgent string // default cis490/<version>
	Timeout   time.Duration
	Log       *slog.Logger
}

// FromConfig takes the receiver, host and credential files from lab-host.toml.
func FromConfig(c *config.LabHost) Options {
	return Options{Receiver: c.Receiver, Host: c.Host, CertFile: c.TLS.Cert, KeyFile: c.TLS.Key,
		CAFile: c.TLS.CA, TokenFile: c.TLS.TokenFile}
}

// Client talks to one receiver as one host. It is safe for concurrent use.
type Client struct {
	opt   Options
	base  *url.URL
	http  *http.Client
	tr    *http.Transport
	creds *credentials
	log   *slog.Logger
}

// New checks the credential files and builds the client.
func New(opt Options) (*Client, error) {
	base, err := url.Parse(opt.Receiver)
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("receiver URL %q: want https://host:port", opt.Receiver)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	bi := buildinfo.Read()
	if opt.Unstamped {
		opt.Commit = ""
	} else if opt.Commit == "" {
		opt.Commit = bi.Commit
	}
	if opt.UserAgent == "" {
		opt.UserAgent = bi.UserAgent()
	}
	if opt.Instance == "" {
		opt.Instance = Instance(machineIDPaths()...)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 60 * time.Second
	}
	caPEM, err := os.ReadFile(opt.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read fleet CA (tls.ca): %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no PEM certificate (tls.ca)", opt.CAFile)
	}
	creds := &credentials{certFile: opt.CertFile, keyFile: opt.KeyFile, tokenFile: opt.TokenFile, log: opt.Log}
	if err := creds.load(); err != nil {
		return nil, err
	}
	c := &Client{opt: opt, base: base, creds: creds, log: opt.Log}
	c.tr = &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:              roots,
			ServerName:           base.Hostname(),
			MinVersion:           tls.VersionTLS12,
			GetClientCertificate: creds.clientCert,
		},
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opt.Timeout,
		IdleConnTimeout:       90 * time.Second,
		// A host keeps a few connections to its receiver, reused: many
		// streams with a backlog must not open one each (a receiver may
		// be a Raspberry Pi serving thousands of hosts).
		MaxIdleConnsPerHost: 4,
		MaxConnsPerHost:     4,
	}
	// A renewed certificate must be presented at once: drop connections
	// made with the old one.
	creds.onChange = c.tr.CloseIdleConnections
	c.http = &http.Client{Transport: c.tr}
	return c, nil
}

// Instance is the X-Cis490-Instance this client sends.
func (c *Client) Instance() string { return c.opt.Instance }

// Close drops idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Response is a receiver's answer, read whole (at most 8 MiB).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error is a non-2xx answer: the receiver's sentence and what it says to do.
type Error struct {
	Status     int
	Message    string         // the receiver's one-sentence error
	Reason     string         // its reason, as the index records it ("no-stream", "gap", …); "" from an older receiver
	Length     int64          // 409: the stream's length to resync to
	HasLength  bool           // whether Length was given
	RetryAfter time.Duration  // from Retry-After, 0 if none
	Accepted   []wire.Release // 426: the releases the receiver accepts
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("receiver answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("receiver answered %d: %s", e.Status, e.Message)
}

// Err returns nil for a 2xx answer, else an *Error.
func (r *Response) Err() error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	e := &Error{Status: r.Status}
	var body wire.Error
	if json.Unmarshal(r.Body, &body) == nil {
		e.Message, e.Reason, e.Accepted = body.Error, body.Reason, body.Accepted
		if body.Length != nil {
			e.Length, e.HasLength = *body.Length, true
		}
	}
	// A HEAD answer has no body: the receiver says the same in headers.
	if e.Message == "" {
		e.Message = r.Header.Get(wire.HeaderError)
	}
	if e.Reason == "" {
		e.Reason = r.Header.Get(wire.HeaderReason)
	}
	if v := r.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			e.RetryAfter = max(0, time.Until(t))
		}
	}
	return e
}

// Do sends one request with every cis490 header and reads the answer. A
// transport failure is an error; any HTTP status is a Response.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, hdr http.Header) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, err := c.send(ctx, method, path, rd, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Fetch GETs path and streams a 2xx body into w, at most limit bytes, and
// says how many it wrote: a release binary is too big for Do's memory
// bound and its timeout (a download has until ctx ends). Any other answer
// comes back as a Response with its body, as from Do.
func (c *Client) Fetch(ctx context.Context, path string, w io.Writer, limit int64) (*Response, int64, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode/100 != 2 {
		out.Body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return out, 0, err
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, n, fmt.Errorf("download %s: %w", path, err)
	}
	return out, n, nil
}

// send sends one request with every cis490 header.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, hdr http.Header) (*http.Response, error) {
	// path is built by this package from escaped parts, query included.
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base.String(), "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	tok, err := c.creds.token()
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if c.opt.Commit != "" {
		req.Header.Set(wire.HeaderCommit, c.opt.Commit)
	}
	req.Header.Set(wire.HeaderInstance, c.opt.Instance)
	req.Header.Set("User-Agent", c.opt.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.base.Host, err)
	}
	return resp, nil
}

// credentials are the host's certificate, key and token files, re-read when
// they change on disk.
type credentials struct {
	certFile, keyFile, tokenFile string
	log                          *slog.Logger
	onChange                     func()

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp string
	tok       string
	tokStamp  string
	checked   time.Time
}

func stamp(paths ...string) string {
	var sb strings.Builder
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fmt.Fprintf(&sb, "%d.%d;", st.ModTime().UnixNano(), st.Size())
	}
	return sb.String()
}

func (c *credentials) load() error {
	// A renewal a crash interrupted is finished before the pair is read; a
	// process that may not write there (the unprivileged shipper) reads
	// the pair as it will be and leaves the finishing to cert-fetch.
	if err := pki.CompletePair(c.certFile, c.keyFile); err != nil && !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("finish an interrupted certificate renewal: %w", err)
	}
	pair, err := pki.LoadPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load host certificate (tls.cert %s, tls.key %s): %w", c.certFile, c.keyFile, err)
	}
	tok, err := readToken(c.tokenFile)
	if err != nil {
		return err
	}
	c.cert, c.certStamp = &pair, stamp(c.certFile, c.keyFile)
	c.tok, c.tokStamp = tok, stamp(c.tokenFile)
	c.checked = time.Now()
	return nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read host token (tls.token_file): %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("host token file %s is empty", path)
	}
	return tok, nil
}

// refresh re-reads files that changed, at most once a second, and reports
// whether anything changed. A file caught half-written keeps the previous
// credentials in use.
func (c *credentials) refresh() (changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < time.Second {
		return false
	}
	c.checked = time.Now()
	if s := stamp(c.certFile, c.keyFile); s != "" && s != c.certStamp {
		if pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile); err == nil {
			c.cert, c.certStamp, changed = &pair, s, true
			c.log.Info("host certificate changed on disk; using the new one")
		}
	}
	if s := stamp(c.tokenFile); s != "" && s != c.tokStamp {
		if tok, err := readToken(c.tokenFile); err == nil {
			c.tok, c.tokStamp, changed = tok, s, true
		}
	}
	return changed
}

func (c *credentials) clientCert(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c.refresh() && c.onChange != nil {
		go c.onChange() // other idle connections still carry the old pair
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

func (c *credentials) token() (string, error) {
	// Before a request: if the credentials changed, drop the connections
	// made with the old ones, so this request presents the new pair.
	if c.refresh() && c.onChange != nil {
		c.onChange()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == "" {
		return "", errors.New("no host token")
	}
	return c.tok, nil
}

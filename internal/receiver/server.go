// Package receiver serves the cis490 HTTPS API: per-request client
// certificate and bearer checks, the version gate, log ingest into the store
// and one durable index line per /v1/ request, whatever its outcome.
package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/groupsync"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/metrics"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/wire"
)

// IndexWriter is the narrow interface the server writes the index through:
// Begin records a line and returns the wait that makes it durable.
type IndexWriter interface {
	Begin(l index.Line) (groupsync.Durable, error)
}

// Options configure a Server.
type Options struct {
	Store store.Streams
	Index IndexWriter
	// LineRoom reports an error matching store.ErrFull when the disk is
	// too full even for index lines: requests are then answered 507
	// without one (nil: always room).
	LineRoom    func() error
	Verifier    *pki.Verifier
	Tokens      token.State
	Gate        *gate.Gate
	MaxBody     int64 // default 8 MiB
	MaxInflight int64 // bytes of request bodies held at once; default 64 MiB
	// MaxInflightPerHost is the part of it one host's bodies may hold;
	// default a quarter of MaxInflight, at least MaxBody.
	MaxInflightPerHost int64
	// HostRate is the requests a second one host may send on average,
	// HostBurst how many at once (0: no limit).
	HostRate  float64
	HostBurst int
	// MinBodyRate is the bytes a second a body must average over 30 s,
	// or it is cut with 408 slow-body (0: no minimum).
	MinBodyRate int64
	// Conns caps connections (zero fields: the defaults).
	Conns ConnLimits
	// ProxyFrom are the load balancers whose connections start with a
	// PROXY protocol header naming the caller (haproxy send-proxy-v2).
	ProxyFrom []netip.Prefix
	Log       *slog.Logger
	Now       func() time.Time
	// Ready reports whether storage works; /healthz answers 503 otherwise.
	Ready func() error
	// Enroll signs joining hosts' certificates (nil: POST /v1/enroll is
	// not served).
	Enroll *Enroller
	// Releases holds published releases (nil serves none); Published is
	// called when a manifest was published (the gate learns it).
	Releases  *release.Shelf
	Published func()
	// HostHealth holds the hosts' doctor snapshots (nil serves none).
	HostHealth hosthealth.Store
	// Fleet builds the fleet view GET /v1/fleet answers (admins only).
	Fleet func(ctx context.Context, now time.Time) (any, error)
	// Metrics counts requests and serves GET /metrics, to loopback or an
	// admin (nil: no metrics).
	Metrics *metrics.Metrics
	// Dashboard builds the web view served under /ui/, given the check of
	// an admin client certificate and the server's search (nil: no
	// dashboard).
	Dashboard func(adminCert func(*http.Request) (string, bool), search SearchFunc) http.Handler
	// MaxSearches is how many searches (GET /v1/search) run at once
	// (default 2; more are answered 429), SearchTimeout how long one may
	// run (default a minute; it then ends with a cursor to continue).
	MaxSearches   int
	SearchTimeout time.Duration
}

// Server is the receiver's HTTP handler.
type Server struct {
	opt           Options
	store         store.Streams
	index         IndexWriter
	verifier      *pki.Verifier
	tokens        token.State
	gates         atomic.Pointer[gate.Gate] // swapped when a release is published
	log           *slog.Logger
	inflight      *budget
	hostBudgets   hostBudgets
	paceWindow    time.Duration
	smallBodyTime time.Duration
	rates         rates
	bodies        bodyPool
	insts         instances
	refused       refusals
	noRoomLog     every // at most one log line a minute while the disk is full
	conns         *connGate
	ui            http.Handler
	searches      chan struct{} // a slot per running search
}

// New makes a Server.
func New(opt Options) (*Server, error) {
	if opt.Store == nil || opt.Index == nil || opt.Verifier == nil || opt.Tokens == nil {
		return nil, errors.New("receiver: store, index, verifier and tokens are required")
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 8 << 20
	}
	if opt.MaxInflight <= 0 {
		opt.MaxInflight = 64 << 20
	}
	opt.MaxInflight = max(opt.MaxInflight, opt.MaxBody)
	if opt.MaxInflightPerHost <= 0 {
		opt.MaxInflightPerHost = opt.MaxInflight / 4
	}
	opt.MaxInflightPerHost = min(max(opt.MaxInflightPerHost, opt.MaxBody), opt.MaxInflight)
	if opt.Gate == nil {
		opt.Gate = gate.New(nil, 1)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxSearches <= 0 {
		opt.MaxSearches = defaultMaxSearches
	}
	if opt.SearchTimeout <= 0 {
		opt.SearchTimeout = defaultSearchTimeout
	}
	srv := &Server{searches: make(chan struct{}, opt.MaxSearches), opt: opt, store: opt.Store, index: opt.Index, verifier: opt.Verifier, tokens: opt.Tokens,
		log: opt.Log, inflight: newBudget(opt.MaxInflight), conns: newConnGate(opt.Conns, opt.Log)}
	srv.hostBudgets.limit = opt.MaxInflightPerHost
	srv.paceWindow, srv.smallBodyTime = paceWindow, smallBodyTime
	srv.rates.rate, srv.rates.burst, srv.rates.holdMost = opt.HostRate, float64(max(opt.HostBurst, 1)), time.Second
	srv.gates.Store(opt.Gate)
	if opt.Dashboard != nil {
		srv.ui = opt.Dashboard(srv.AdminCert, srv.Search)
	}
	return srv, nil
}

// Gate is the version gate now.
func (s *Server) Gate() *gate.Gate { return s.gates.Load() }

// SetGate replaces the version gate (a release was published).
func (s *Server) SetGate(g *gate.Gate) { s.gates.Store(g) }

// reqState is what one request accumulates for its index line.
type reqState struct {
	w       http.ResponseWriter // for per-request deadlines
	line    index.Line
	start   time.Time
	durable groupsync.Durable // the stored bytes a 2xx acknowledges, if any
	// withLine, if not nil, commits the index line with the stored bytes
	// (store.Begun.WithLine), instead of durable and the index writer.
	withLine func(ts time.Time, line []byte) (groupsync.Durable, error)
	stored   int64 // log bytes a 201 stored, for the metrics
}

// ServeHTTP answers one request. Every /v1/ request gets exactly one index
// line, made durable before the answer is written.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == wire.PathHealthz {
		s.healthz(w, r)
		return
	}
	if r.URL.Path == wire.PathMetrics && s.opt.Metrics != nil {
		s.serveMetrics(w, r)
		return
	}
	if s.ui != nil {
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/ui":
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			s.ui.ServeHTTP(w, r)
			return
		}
	}
	if !strings.HasPrefix(r.URL.EscapedPath(), wire.Prefix) {
		errorResponse(notFound()).write(w, r.Method == http.MethodHead)
		return
	}
	if s.opt.LineRoom != nil {
		if err := s.opt.LineRoom(); err != nil {
			s.noRoom(w, r, err)
			return
		}
	}
	now := s.opt.Now()
	rec := &reqState{w: w, start: now, line: index.Line{
		Method:   r.Method,
		Commit:   human.Clip(r.Header.Get(wire.HeaderCommit), 64),
		Instance: human.Clip(r.Header.Get(wire.HeaderInstance), 128),
		Remote:   r.RemoteAddr,
	}}
	resp := s.serveV1(r, now, rec)
	if rec.line.Auth && rec.line.Admin == "" && rec.line.Host != "" {
		s.selfCheckHeaders(resp, rec.line.Host, rec.line.Commit, rec.line.Instance, now)
	}
	rec.line.Status = resp.status
	rec.line.TS = now
	rec.line.DurMS = float64(s.opt.Now().Sub(rec.start).Microseconds()) / 1000
	if !rec.line.Auth {
		// A connection that did not authenticate is not kept: idle, it
		// would hold memory for a caller who proved nothing.
		w.Header().Set("Connection", "close")
	}
	if s.refused.folds(&rec.line) {
		// Counted into its minute's line (FoldRefusals): nothing was stored.
		if s.opt.Metrics != nil {
			s.opt.Metrics.Request(rec.line.Endpoint, resp.status, 0)
		}
		resp.write(w, r.Method == http.MethodHead)
		return
	}
	// The line and the stored bytes go into the same group commit (or,
	// on postgres+s3, the same transaction): one wait covers both. It is
	// not cut short if the client has gone.
	ctx := context.WithoutCancel(r.Context())
	err := s.commitLine(ctx, rec)
	if err != nil && resp.streamed {
		// The answer has begun: its last line says what went wrong.
		s.log.Error("search not recorded in the index", "err", err)
		resp.raw = []byte(`{"kind":"error","error":"the receiver could not record this search in its index; its results above stand"}` + "\n")
	} else if err != nil {
		s.log.Error("request not made durable; answering 503", "err", err, "host", rec.line.Host)
		aerr := &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage,
			msg: "the receiver cannot store requests right now; retry later", retryAfter: 30}
		resp = errorResponse(aerr)
		rec.stored = 0
		if rec.withLine != nil {
			// The line went down with the bytes' transaction: record the
			// answer the host gets instead.
			rec.line.Status, rec.line.Reason = resp.status, aerr.reason
			if d, err := s.index.Begin(rec.line); err == nil {
				_ = d(ctx)
			}
		}
	}
	if s.opt.Metrics != nil {
		s.opt.Metrics.Request(rec.line.Endpoint, resp.status, rec.stored)
	}
	resp.write(w, r.Method == http.MethodHead)
}

// commitLine makes rec's index line and its stored bytes durable.
func (s *Server) commitLine(ctx context.Context, rec *reqState) error {
	if rec.withLine != nil {
		js, err := rec.line.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode the index line: %w", err)
		}
		d, err := rec.withLine(rec.line.TS, js)
		if err != nil {
			return err
		}
		return d(ctx)
	}
	d, err := s.index.Begin(rec.line)
	if err == nil {
		err = d(ctx)
	}
	if err == nil && rec.durable != nil {
		err = rec.durable(ctx)
	}
	return err
}

// noRoom answers a request 507 without an index line: the disk is below
// the floor index lines keep (README, "How storage works").
func (s *Server) noRoom(w http.ResponseWriter, r *http.Request, err error) {
	if s.noRoomLog.Allow(s.opt.Now()) {
		s.log.Error("disk full even for index lines: answering 507 without indexing; free space or lower retention", "err", err)
	}
	if s.opt.Metrics != nil {
		s.opt.Metrics.Request("", http.StatusInsufficientStorage, 0)
	}
	errorResponse(&apiError{status: http.StatusInsufficientStorage, reason: wire.ReasonDiskFull,
		msg: "the receiver's disk is full; nothing was stored or recorded, retry later (operator: free space or lower retention)", retryAfter: 300}).
		write(w, r.Method == http.MethodHead)
}

// AdminCert names the admin whose verified, unrevoked client certificate
// r came with.
func (s *Server) AdminCert(r *http.Request) (string, bool) {
	v := s.verifyPeer(r, s.opt.Now())
	if !v.OK() || v.Kind != pki.KindAdmin {
		return "", false
	}
	return v.Name, true
}

// serveMetrics answers GET /metrics to a scraper on this machine, or to an
// admin from anywhere; scrapes are not indexed (one every 15 s would
// drown the requests the index is for).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		errorResponse(&apiError{status: http.StatusMethodNotAllowed, reason: wire.ReasonMethod, msg: "metrics: GET /metrics"}).write(w, false)
		return
	}
	if !loopback(r.RemoteAddr) {
		rec := &reqState{}
		p, aerr := s.authenticate(r, s.opt.Now(), rec)
		if aerr == nil && p.kind != pki.KindAdmin {
			aerr = &apiError{status: http.StatusForbidden, reason: wire.ReasonNotAdmin, msg: "metrics are for a scraper on the receiver's machine or an admin certificate and token"}
		}
		if aerr != nil {
			errorResponse(aerr).write(w, r.Method == http.MethodHead)
			return
		}
	}
	s.opt.Metrics.Handler().ServeHTTP(w, r)
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveV1 routes, authenticates and handles; a panic becomes a 500 with
// reason "panic" (and its index line).
func (s *Server) serveV1(r *http.Request, now time.Time, rec *reqState) (resp *response) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "panic", p, "method", r.Method, "path", r.URL.EscapedPath())
			rec.line.Reason = wire.ReasonPanic
			resp = errorResponse(&apiError{status: http.StatusInternalServerError, reason: wire.ReasonPanic,
				msg: "the receiver hit an internal error; it has been logged, retry later"})
		}
	}()
	rt := parseRoute(r.URL.EscapedPath())
	rec.line.Endpoint, rec.line.Host, rec.line.Stream = rt.endpoint, rt.host, rt.stream
	if rt.endpoint == EPCerts && rt.err == nil {
		// Renewal authenticates itself: an expired certificate may still
		// renew within the grace period.
		resp, aerr := s.renew(r, now, rec)
		if aerr != nil {
			rec.line.Reason = aerr.reason
			return errorResponse(aerr)
		}
		return resp
	}
	if rt.endpoint == EPEnroll && rt.err == nil {
		// A joining host has no certificate yet: its join token is all.
		resp, aerr := s.enroll(r, rec)
		if aerr != nil {
			rec.line.Reason = aerr.reason
			return errorResponse(aerr)
		}
		return resp
	}
	p, aerr := s.authenticate(r, now, rec)
	if aerr == nil {
		if p.kind == pki.KindAdmin {
			rec.line.Admin, rec.line.Auth = p.name, true
		} else {
			rec.line.Auth = p.name == rt.host
		}
	}
	if aerr == nil && p.kind == pki.KindHost {
		if wait, ok := s.rates.take(p.name, now); !ok {
			// The answer waits for the next token (a second at most): a
			// host flooding in a closed loop then costs a request a
			// second per connection, not a core.
			s.rates.hold(r.Context(), wait)
			aerr = &apiError{status: http.StatusTooManyRequests, reason: wire.ReasonRate, retryAfter: retryAfter(wait),
				msg: fmt.Sprintf("host %s sends more than %g requests a second (limits.host_rate); retry after the delay in Retry-After", p.name, s.rates.rate)}
		}
	}
	if aerr == nil && rt.err != nil {
		aerr = rt.err
	}
	if aerr == nil {
		var ok *response
		if ok, aerr = s.handle(r, rt, p, rec); aerr == nil {
			return ok
		}
	}
	rec.line.Reason = aerr.reason
	if q := aerr.quota; q != nil {
		rec.line.Quota, rec.line.QuotaUsed, rec.line.QuotaLimit = q.Kind, q.Used, q.Limit
	}
	return errorResponse(aerr)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.opt.Ready != nil {
		if err := s.opt.Ready(); err != nil {
			errorResponse(&apiError{status: http.StatusServiceUnavailable, msg: "storage failed: " + err.Error() + "; restart the receiver"}).write(w, false)
			return
		}
	}
	jsonResponse(http.StatusOK, map[string]any{"ok": true}).write(w, r.Method == http.MethodHead)
}

// TLSConfig is the receiver's TLS: it requests a client certificate but lets
// every handshake through, so a missing, foreign or expired certificate gets a
// 401 with a sentence and an index line instead of a silent handshake failure.
// The request names the fleet CA as the one it accepts, so a browser or a
// client holding several certificates offers its fleet one; with
// RequestClientCert that list is advertised only, never checked by TLS.
// TLS 1.2 offers only forward-secret AEAD suites (no CBC, no SHA-1 MAC);
// TLS 1.3 suites are all AEAD and not configurable.
func TLSConfig(fleetCA *x509.Certificate, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	cas := x509.NewCertPool()
	cas.AddCert(fleetCA)
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     tls.RequestClientCert,
		ClientCAs:      cas,
		GetCertificate: getCert,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// Serve runs an HTTPS server for h on ln until ctx ends, then stops
// gracefully (see drain) within grace and returns.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tc *tls.Config, grace time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s, ok := h.(*Server); ok {
		ln = &limitListener{Listener: ln, g: s.conns, proxies: s.opt.ProxyFrom}
	}
	conns := &newConns{since: map[net.Conn]time.Time{}}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext:       withConnCache,
		ConnState:         conns.track,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tc)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return drain(sctx, srv, ln, errc, conns)
}

// drain stops srv the way a host expects: no new connection is accepted,
// and every request that reached the receiver is answered. http.Server's
// Shutdown alone drops a request whose headers it reads after Shutdown
// began, closing the connection unanswered, though the host sent it while
// the receiver was up. So drain first closes the listener, turns keep-alive
// off (idle connections close; each busy one closes after its answer), and
// waits until every connection accepted has either sent its request or
// stayed silent for a second (then it is closed: a keep-alive client's
// spare connection would otherwise hold the stop for Go's 5 s); only then
// does Shutdown wait for the requests being answered.
func drain(ctx context.Context, srv *http.Server, ln net.Listener, served <-chan error, conns *newConns) error {
	ln.Close()
	select {
	case <-served: // every accepted connection is now tracked
	case <-ctx.Done():
	}
	srv.SetKeepAlivesEnabled(false)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for conns.closeSilent(time.Second) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("graceful shutdown: %w", srv.Close())
		case <-t.C:
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

// newConns tracks the connections that have not yet sent a request.
type newConns struct {
	mu    sync.Mutex
	since map[net.Conn]time.Time
}

func (n *newConns) track(c net.Conn, st http.ConnState) {
	if g := gatedOf(c); g != nil {
		g.idle.Store(st == http.StateIdle)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if st == http.StateNew {
		n.since[c] = time.Now()
	} else {
		delete(n.since, c)
	}
}

// closeSilent closes the connections that have sent nothing for longer
// than quiet and reports how many others are still to send a request.
func (n *newConns) closeSilent(quiet time.Duration) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c, at := range n.since {
		if time.Since(at) > quiet {
			c.Close()
			delete(n.since, c)
		}
	}
	return len(n.since)
}

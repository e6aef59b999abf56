package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

// attack is one way of abusing the receiver, run for a bounded time (its
// context) while honest hosts ship.
type attack struct {
	name string
	what string // one line for the report
	// prepare, when set, runs before the receiver starts (a join token).
	prepare func(r *attackRig) error
	run     func(ctx context.Context, r *attackRig) error
}

// attackRig is what an attack works with.
type attackRig struct {
	t        *Target
	attacker Host // bench-<hosts>: a host of the fleet, not one of the honest ones
	tally    *tally
	// joinToken lets honest enrollments through while an attack runs
	// (renew), with the fleet CA's fingerprint they pin.
	joinToken, caFingerprint string
	enrolls                  *Enrolls
}

// How hard each attack pushes. They are fixed, so that runs compare; the
// README's "Under attack" explains each choice.
const (
	floodWorkers   = 64          // unauth: connections in flight at once, a request each
	stallEnrollers = 1000        // stall: TLS connections trickling an enroll body
	stallRaw       = 1000        // stall: TCP connections that never start TLS
	stallPause     = time.Second // stall: a worker's pause before it replaces a lost connection
	starvePuts     = 16          // starve: limits.max_conns_per_host, one PUT each
	starveBody     = 8 << 20     // starve: Content-Length, limits.max_body
	starveFirst    = 1 << 20     // starve: bytes sent at once, the receiver's first charge
	starveChunk    = 2 << 10     // starve: then this much a second, above limits.min_body_rate
	tinyConns      = 8           // tiny: keep-alive connections of the attacking host
	tinyBody       = 64          // tiny: bytes per PUT
	renewTrickles  = 64          // renew: bodies trickled at once
	renewEvery     = 100 * time.Millisecond
	enrollEvery    = 250 * time.Millisecond // renew: one honest enrollment this often
)

// attackList is every attack, in the order the bench runs them.
func attackList() []*attack {
	return []*attack{
		{name: "unauth", what: fmt.Sprintf("%d connections at a time without a client certificate, a request each: 60 KB methods, junk paths and headers", floodWorkers), run: unauthFlood},
		{name: "stall", what: fmt.Sprintf("%d TLS connections without a certificate trickling POST /v1/enroll (bogus join token), %d TCP connections never starting TLS", stallEnrollers, stallRaw), run: stallFlood},
		{name: "starve", what: fmt.Sprintf("the attacking host's %d PUTs of %s Content-Length: %s at once, then %s/s", starvePuts, SizeName(starveBody), SizeName(starveFirst), SizeName(starveChunk)), run: starve},
		{name: "tiny", what: fmt.Sprintf("the attacking host's %d connections of %d-byte PUTs without pause, half to new streams, Retry-After ignored", tinyConns, tinyBody), run: tinyFlood},
		{name: "renew", what: fmt.Sprintf("the attacking host's %d POST /v1/certs/renew trickling a byte every %s; an honest enrollment every %s", renewTrickles, renewEvery, enrollEvery),
			prepare: joinToken, run: renewTrickle},
	}
}

// AttackNames lists the attacks in the order the bench runs them.
func AttackNames() []string {
	var names []string
	for _, a := range attackList() {
		names = append(names, a.name)
	}
	return names
}

// AttackWhat is the one-line description of the named attack.
func AttackWhat(name string) string {
	if a := findAttack(name); a != nil {
		return a.what
	}
	return ""
}

func findAttack(name string) *attack {
	i := slices.IndexFunc(attackList(), func(a *attack) bool { return a.name == name })
	if i < 0 {
		return nil
	}
	return attackList()[i]
}

// workers runs n copies of one until ctx ends, each in a loop.
func workers(ctx context.Context, n int, one func(w int)) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				one(w)
			}
		})
	}
	wg.Wait()
}

// unauthFlood: callers that prove nothing, as fast as they can. Each
// request needs a new connection (the receiver closes one that did not
// authenticate), so this is a handshake flood too. Index lines are folded
// per address and reason, and every field is bounded: the disk should not
// grow with it.
func unauthFlood(ctx context.Context, r *attackRig) error {
	workers(ctx, floodWorkers, func(w int) {
		rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
		kind, req := junkRequest(rng, r.t.Addr)
		r.tally.add(ctx, kind+" "+junkOnce(ctx, r, req))
	})
	return nil
}

// junkOnce sends one request on a new connection without a certificate and
// reads the answer.
func junkOnce(ctx context.Context, r *attackRig, req []byte) string {
	c, err := dialTLS(ctx, r.t, nil)
	if err != nil {
		_ = sleepCtx(ctx, 10*time.Millisecond) // refused: do not spin
		return outRefused
	}
	defer r.tally.opened()()
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(req); err != nil {
		return outClosed
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if ctx.Err() != nil {
			return outHeld
		}
		return outClosed
	}
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// junkRequest is one of four kinds of rubbish, at random, and its kind.
// The junk is URL-safe: a bad escape would be refused by Go's HTTP parser
// before the receiver's code sees it, which would test nothing of ours.
func junkRequest(rng *rand.Rand, addr string) (kind string, req []byte) {
	junk := func(n int) string {
		const chars = "abcdefghijklmnopqrstuvwxyz0123456789-_.~ZQ"
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	bearer := "Authorization: Bearer c490_" + junk(43)
	switch rng.IntN(4) {
	case 0: // a 60 KB method (a token, so HTTP parses it): recorded as OTHER
		return "method", requestHead(strings.Repeat("X", 60_000), "/v1/logs/"+junk(20)+"/s?offset=0", addr, -1, bearer)
	case 1: // a host name of 300 bytes, a stream of 500, headers of 4 KiB
		return "names", requestHead(http.MethodPut, "/v1/logs/"+junk(300)+"/"+junk(500)+"?offset="+junk(30), addr, 0, bearer,
			wire.HeaderInstance+": "+junk(4096), wire.HeaderCommit+": "+junk(4096), "User-Agent: "+junk(4096))
	case 2: // junk endpoints under /v1/, with a body
		body := junk(64)
		return "endpoint", append(requestHead(http.MethodPost, "/v1/"+junk(40)+"/"+junk(40), addr, len(body), bearer), body...)
	default: // not under /v1/: not indexed at all
		return "other", requestHead(http.MethodGet, "/"+junk(200), addr, -1)
	}
}

// stallFlood: connections that hold a place and do nothing useful.
// Enrollment checks the join token before it reads the body, and every
// connection that has not authenticated counts against
// limits.max_conns_per_address: from one address most are refused at
// accept. Each worker tries to hold one connection and replaces it a
// second after it is lost.
func stallFlood(ctx context.Context, r *attackRig) error {
	fp, err := caFingerprint(r.t)
	if err != nil {
		return err
	}
	bogus, err := token.NewJoin(fp) // well formed, never issued
	if err != nil {
		return err
	}
	body := []byte(`{"host":"intruder","csr":"` + strings.Repeat("A", 900) + `"}`)
	head := requestHead(http.MethodPost, wire.PathEnroll, r.t.Addr, len(body), "Authorization: Bearer "+bogus, "Content-Type: application/json")
	var wg sync.WaitGroup
	wg.Go(func() {
		workers(ctx, stallEnrollers, func(int) {
			r.tally.add(ctx, "enroll "+trickleOnce(ctx, r, nil, head, body, 0, 1, time.Second))
			_ = sleepCtx(ctx, stallPause)
		})
	})
	wg.Go(func() {
		workers(ctx, stallRaw, func(int) {
			r.tally.add(ctx, "tcp "+silentTCP(ctx, r))
			_ = sleepCtx(ctx, stallPause)
		})
	})
	wg.Wait()
	return nil
}

// trickleOnce opens a TLS connection (with h's certificate, unless nil) and trickles
// one request on it (see trickle).
func trickleOnce(ctx context.Context, r *attackRig, h *Host, head, body []byte, first, chunk int, every time.Duration) string {
	var cert *tls.Certificate
	if h != nil {
		cert = &h.Cert
	}
	c, err := dialTLS(ctx, r.t, cert)
	if err != nil {
		return outRefused
	}
	defer r.tally.opened()()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.Close()
	return trickle(ctx, c, answers(cctx, c), head, body, first, chunk, every)
}

// silentTCP opens a TCP connection and sends nothing until the receiver
// closes it or the attack ends.
func silentTCP(ctx context.Context, r *attackRig) string {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", r.t.Addr)
	if err != nil {
		return outRefused
	}
	defer r.tally.opened()()
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	start := time.Now()
	_, _ = c.Read(make([]byte, 1))
	switch {
	case ctx.Err() != nil:
		return outHeld
	case time.Since(start) < 100*time.Millisecond:
		return outRefused // closed at accept: over the cap
	}
	return outClosed
}

// starve: one host holding the memory others need. Each PUT sends the
// receiver's first charge at once, then keeps above limits.min_body_rate,
// so the slow-body cut never comes; the host's in-flight budget
// (limits.max_inflight_per_host) is what holds it to its share.
func starve(ctx context.Context, r *attackRig) error {
	body := Body(starveBody)
	workers(ctx, starvePuts, func(w int) {
		head := requestHead(http.MethodPut, wire.PutLogsPath(r.attacker.Name, fmt.Sprintf("big-%d", w), 0), r.t.Addr, len(body), hostHeaders(r.attacker)...)
		out := trickleOnce(ctx, r, &r.attacker, head, body, starveFirst, starveChunk, time.Second)
		r.tally.add(ctx, out)
		if out == outRefused {
			_ = sleepCtx(ctx, 100*time.Millisecond)
		}
	})
	return nil
}

// hostHeaders are what a shipper sends with a PUT, as "Key: value" lines.
func hostHeaders(h Host) []string {
	return []string{"Authorization: Bearer " + h.Token, "Content-Type: application/octet-stream",
		wire.HeaderInstance + ": bench-" + h.Name, wire.HeaderGeneration + ": bench-gen", wire.HeaderGenerationStart + ": 0"}
}

// tinyFlood: one host sending tiny appends as fast as its connections
// allow, ignoring Retry-After; half of them each to a new stream. The
// per-host rate (limits.host_rate, host_burst) should answer most with 429,
// cheaply (folded index lines), and quota.host_streams caps the streams.
func tinyFlood(ctx context.Context, r *attackRig) error {
	tr := hostTransport(r.t, r.attacker)
	tr.MaxConnsPerHost, tr.MaxIdleConns, tr.MaxIdleConnsPerHost = tinyConns, tinyConns, tinyConns
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countedConn{Conn: c, closed: r.tally.opened()}, nil
	}
	defer tr.CloseIdleConnections()
	body := Body(tinyBody)
	hdr := http.Header{}
	for _, h := range hostHeaders(r.attacker) {
		k, v, _ := strings.Cut(h, ": ")
		hdr.Set(k, v)
	}
	var wg sync.WaitGroup
	for w := range tinyConns {
		wg.Go(func() {
			var offset int64
			for n := 0; ctx.Err() == nil; n++ {
				stream := fmt.Sprintf("tiny-%d", w)
				if w%2 == 1 {
					stream, offset = fmt.Sprintf("new-%d-%d", w, n), 0
				}
				u := url.URL{Scheme: "https", Host: r.t.Addr, Path: wire.LogsPath(r.attacker.Name, stream),
					RawQuery: wire.QueryOffset + "=" + strconv.FormatInt(offset, 10)}
				req := &http.Request{Method: http.MethodPut, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Host: r.t.Addr}
				resp, err := tr.RoundTrip(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						r.tally.add(ctx, "net")
						_ = sleepCtx(ctx, 10*time.Millisecond)
					}
					continue
				}
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				if l, ok := jsonLength(b); ok {
					offset = l
				}
				r.tally.add(ctx, strconv.Itoa(resp.StatusCode))
			}
		})
	}
	wg.Wait()
	return nil
}

// countedConn is a connection the tally counts as open until it closes.
type countedConn struct {
	net.Conn
	closed func()
}

func (c *countedConn) Close() error {
	c.closed()
	return c.Conn.Close()
}

// joinToken makes the join token the honest enrollments use (any host
// probe-…), before the receiver starts.
func joinToken(r *attackRig) error {
	fp, err := caFingerprint(r.t)
	if err != nil {
		return err
	}
	now := time.Now()
	tok, err := token.Files(datadir.Dir(r.t.Data).Tokens()).AddJoin(fp, "probe-*", 1_000_000, now.Add(24*time.Hour), now)
	if err != nil {
		return fmt.Errorf("make a join token: %w", err)
	}
	r.joinToken, r.caFingerprint = tok, fp
	return nil
}

func caFingerprint(t *Target) (string, error) {
	ca, err := pki.ParseCertPEM(t.CAPEM)
	if err != nil {
		return "", fmt.Errorf("read the fleet CA: %w", err)
	}
	return pki.FingerprintOf(ca), nil
}

// renewTrickle: a host renewing its certificate with a body that takes
// minutes. Renewal reads its body before trust takes its lock, so honest
// enrollments, which take that lock, must go on at their usual speed.
func renewTrickle(ctx context.Context, r *attackRig) error {
	csr, _, err := pki.NewCSR(r.attacker.Name)
	if err != nil {
		return err
	}
	body, err := json.Marshal(wire.RenewRequest{CSR: string(csr)})
	if err != nil {
		return err
	}
	head := requestHead(http.MethodPost, wire.PathRenew, r.t.Addr, len(body),
		"Authorization: Bearer "+r.attacker.Token, "Content-Type: application/json")
	var wg sync.WaitGroup
	wg.Go(func() { r.enrolls = enrollLoop(ctx, r) })
	workers(ctx, renewTrickles, func(int) {
		out := trickleOnce(ctx, r, &r.attacker, head, body, 0, 1, renewEvery)
		r.tally.add(ctx, out)
		if out == outRefused {
			_ = sleepCtx(ctx, 100*time.Millisecond)
		}
	})
	wg.Wait()
	return nil
}

// enrollLoop enrolls a new host probe-<n> every enrollEvery until ctx
// ends, as `cis490 enroll` does, and times each.
func enrollLoop(ctx context.Context, r *attackRig) *Enrolls {
	e := &Enrolls{}
	u := &url.URL{Scheme: "https", Host: r.t.Addr}
	var lat []time.Duration
	for n := 0; ctx.Err() == nil; n++ {
		host := fmt.Sprintf("probe-%d", n)
		csr, _, err := pki.NewCSR(host)
		if err != nil {
			e.Errors++
			e.FirstErr = err.Error()
			break
		}
		start := time.Now()
		_, err = transport.Enroll(ctx, u, r.joinToken, r.caFingerprint, host, csr)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			e.Errors++
			if e.FirstErr == "" {
				e.FirstErr = err.Error()
			}
		default:
			e.OK++
			lat = append(lat, time.Since(start))
		}
		_ = sleepCtx(ctx, enrollEvery)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		e.P50, e.Max = percentile(lat, 0.5), lat[len(lat)-1]
	}
	return e
}

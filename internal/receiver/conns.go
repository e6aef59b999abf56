package receiver

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/proxyproto"
)

// ConnLimits cap the connections the receiver holds, so that no caller
// can take them all: an idle TLS connection costs tens of KiB, and a Pi
// serving a lab has a few hundred MiB.
type ConnLimits struct {
	// Total caps every connection; past it new ones are closed at once.
	Total int
	// PerAddress caps the connections from one remote IP address that have
	// not authenticated yet (in their handshake or first request). A whole
	// lab behind one NAT address shares it, but only while connecting.
	PerAddress int
	// PerHost caps the connections authenticated as one host (or admin).
	PerHost int
	// ArrivalRate and ArrivalBurst limit new connections a second from
	// one address (zero: 32 and 512).
	ArrivalRate  float64
	ArrivalBurst int
}

// The default limits suit a receiver of a few thousand hosts: each holds
// one keep-alive connection, a dashboard a handful. New connections from
// one address are also limited in rate (each costs a TLS handshake): a
// lab behind one NAT address reconnecting at once after a restart fits
// the burst.
const (
	connArrivalRate  = 32  // new connections a second, per address
	connArrivalBurst = 512 // and at once
	connArrivalKeys  = 65536

	defaultMaxConns     = 4096
	defaultConnsPerAddr = 256
	defaultConnsPerHost = 16
)

// connGate counts connections against ConnLimits.
type connGate struct {
	lim      ConnLimits
	log      *slog.Logger
	noted    every // one log line a minute for refused connections
	arrivals rates // new connections per address
	mu       sync.Mutex
	total    int
	unauth   map[string]int                     // by remote IP
	byName   map[string]map[*gatedConn]struct{} // by "host/" or "admin/" and name
}

func newConnGate(lim ConnLimits, log *slog.Logger) *connGate {
	if lim.Total <= 0 {
		lim.Total = defaultMaxConns
	}
	if lim.PerAddress <= 0 {
		lim.PerAddress = defaultConnsPerAddr
	}
	if lim.PerHost <= 0 {
		lim.PerHost = defaultConnsPerHost
	}
	g := &connGate{lim: lim, log: log, unauth: map[string]int{}, byName: map[string]map[*gatedConn]struct{}{}}
	if lim.ArrivalRate <= 0 {
		lim.ArrivalRate, lim.ArrivalBurst = connArrivalRate, connArrivalBurst
	}
	g.arrivals = rates{rate: lim.ArrivalRate, burst: float64(max(lim.ArrivalBurst, 1)), maxKeys: connArrivalKeys}
	return g
}

// admit counts a new connection from ip, or refuses it. A connection
// from a load balancer (proxied) is counted per address only once its
// PROXY header names the caller (bind).
func (g *connGate) admit(ip string, proxied bool) bool {
	if !proxied { // a balancer's callers are counted once its header names them
		if _, ok := g.arrivals.take(ip, time.Now()); !ok {
			return false
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.lim.Total || !proxied && g.unauth[ip] >= g.lim.PerAddress {
		return false
	}
	g.total++
	if !proxied {
		g.unauth[ip]++
	}
	return true
}

// bind counts a proxied connection under its caller's address, or refuses.
func (g *connGate) bind(c *gatedConn, ip string) bool {
	if _, ok := g.arrivals.take(ip, time.Now()); !ok {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unauth[ip] >= g.lim.PerAddress {
		return false
	}
	g.unauth[ip]++
	c.ip = ip
	return true
}

// claim moves c from its address's count to name's. When name holds its
// limit, it names one of name's idle connections to close instead (a
// laptop that changed networks leaves dead ones behind: the newest wins),
// or none when all are busy.
func (g *connGate) claim(c *gatedConn, name string) (ok bool, idle *gatedConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.byName[name]
	if len(set) >= g.lim.PerHost {
		for o := range set {
			if o.idle.Load() {
				return false, o
			}
		}
		return false, nil
	}
	if set == nil {
		set = map[*gatedConn]struct{}{}
		g.byName[name] = set
	}
	set[c] = struct{}{}
	g.uncount(c)
	return true, nil
}

// release forgets a closed connection.
func (g *connGate) release(c *gatedConn, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if name == "" {
		g.uncount(c)
		return
	}
	delete(g.byName[name], c)
	if len(g.byName[name]) == 0 {
		delete(g.byName, name)
	}
}

// uncount takes c off its address's count; the caller holds g.mu.
func (g *connGate) uncount(c *gatedConn) {
	switch {
	case c.ip == "": // proxied, its header not read: not counted
	case g.unauth[c.ip] <= 1:
		delete(g.unauth, c.ip) // the maps hold only live keys
	default:
		g.unauth[c.ip]--
	}
	c.ip = ""
}

// limitListener refuses connections past the gate's limits at accept.
type limitListener struct {
	net.Listener
	g       *connGate
	proxies []netip.Prefix // balancers whose connections start with a PROXY header
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		proxied := fromProxy(ip, l.proxies)
		if l.g.admit(ip, proxied) {
			gc := &gatedConn{Conn: c, g: l.g, ip: ip, proxied: proxied}
			if proxied {
				gc.ip = ""
			}
			return gc, nil
		}
		c.Close()
		if l.g.noted.Allow(time.Now()) {
			l.g.log.Warn("connection refused: the receiver holds its limit of connections (limits.max_conns, max_conns_per_address), or the address opens more than 32 a second",
				"remote", ip, "limits", l.g.lim)
		}
	}
}

func fromProxy(ip string, proxies []netip.Prefix) bool {
	if len(proxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// gatedConn is a connection the gate counts until it is closed.
type gatedConn struct {
	net.Conn
	g    *connGate
	ip   string      // counted under this address; guarded by g.mu
	idle atomic.Bool // between requests (http.ConnState)

	// A proxied connection starts with a PROXY header naming its caller,
	// read once, on the first RemoteAddr or Read.
	proxied bool
	header  sync.Once
	src     net.Addr
	herr    error

	mu     sync.Mutex
	name   string // who it authenticated as; "" until then
	closed bool
}

// claim records that c authenticated as name: false when name holds its
// limit of connections, all of them busy.
func (c *gatedConn) claim(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.name == name || c.closed {
		return true
	}
	if c.name != "" {
		return false // one connection, one certificate: cannot happen
	}
	for range 2 * c.g.lim.PerHost {
		ok, idle := c.g.claim(c, name)
		if ok {
			c.name = name
			return true
		}
		if idle == nil {
			return false
		}
		idle.Close() // idle is not c (c is in a request): no lock taken twice
	}
	return false
}

// proxyHeaderTime bounds the wait for a balancer's PROXY header.
const proxyHeaderTime = 10 * time.Second

// readHeader reads a proxied connection's PROXY header once. http.Server
// asks RemoteAddr first, before it sets any deadline of its own, so the
// deadline set and cleared here takes none of its away.
func (c *gatedConn) readHeader() {
	c.header.Do(func() {
		if !c.proxied {
			return
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(proxyHeaderTime))
		src, err := proxyproto.ReadHeader(c.Conn)
		_ = c.Conn.SetReadDeadline(time.Time{})
		ip := remoteIP(c.Conn.RemoteAddr()) // LOCAL: the balancer's own check
		if src != nil {
			c.src, ip = src, src.IP.String()
		}
		switch {
		case err != nil:
			c.herr = fmt.Errorf("a connection from the load balancer %s: %w", c.Conn.RemoteAddr(), err)
		case !c.g.bind(c, ip):
			c.herr = fmt.Errorf("%s holds its limit of connections not yet authenticated (limits.max_conns_per_address)", ip)
		}
		if c.herr != nil && c.g.noted.Allow(time.Now()) {
			c.g.log.Warn("connection refused", "err", c.herr)
		}
	})
}

// RemoteAddr is the caller's address: for a proxied connection, the one
// its PROXY header names.
func (c *gatedConn) RemoteAddr() net.Addr {
	c.readHeader()
	if c.src != nil {
		return c.src
	}
	return c.Conn.RemoteAddr()
}

func (c *gatedConn) Read(p []byte) (int, error) {
	c.readHeader()
	if c.herr != nil {
		return 0, c.herr
	}
	return c.Conn.Read(p)
}

func (c *gatedConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.g.release(c, c.name)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// gatedOf finds the counted connection under a server's connection.
func gatedOf(c net.Conn) *gatedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	g, _ := c.(*gatedConn)
	return g
}

// claimConn counts r's connection as name's; false when name holds its
// limit. A connection the gate does not count (a test's) always passes.
func claimConn(ctx context.Context, name string) bool {
	cache, _ := ctx.Value(connKey{}).(*connVerdict)
	if cache == nil || cache.conn == nil {
		return true
	}
	return cache.conn.claim(name)
}

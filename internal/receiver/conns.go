package receiver

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
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
}

// The default limits suit a receiver of a few thousand hosts: each holds
// one keep-alive connection, a dashboard a handful.
const (
	defaultMaxConns     = 4096
	defaultConnsPerAddr = 256
	defaultConnsPerHost = 16
)

// connGate counts connections against ConnLimits.
type connGate struct {
	lim    ConnLimits
	log    *slog.Logger
	noted  every // one log line a minute for refused connections
	mu     sync.Mutex
	total  int
	unauth map[string]int                     // by remote IP
	byName map[string]map[*gatedConn]struct{} // by "host/" or "admin/" and name
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
	return &connGate{lim: lim, log: log, unauth: map[string]int{}, byName: map[string]map[*gatedConn]struct{}{}}
}

// admit counts a new connection from ip, or refuses it.
func (g *connGate) admit(ip string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.lim.Total || g.unauth[ip] >= g.lim.PerAddress {
		return false
	}
	g.total++
	g.unauth[ip]++
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
	if g.unauth[c.ip] <= 1 {
		delete(g.unauth, c.ip) // the maps hold only live keys
	} else {
		g.unauth[c.ip]--
	}
	return true, nil
}

// release forgets a closed connection.
func (g *connGate) release(c *gatedConn, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	switch {
	case name != "":
		delete(g.byName[name], c)
		if len(g.byName[name]) == 0 {
			delete(g.byName, name)
		}
	case g.unauth[c.ip] <= 1:
		delete(g.unauth, c.ip)
	default:
		g.unauth[c.ip]--
	}
}

// limitListener refuses connections past the gate's limits at accept.
type limitListener struct {
	net.Listener
	g *connGate
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if l.g.admit(ip) {
			return &gatedConn{Conn: c, g: l.g, ip: ip}, nil
		}
		c.Close()
		if l.g.noted.Allow(time.Now()) {
			l.g.log.Warn("connection refused: the receiver holds its limit of connections (limits.max_conns, max_conns_per_address)",
				"remote", ip, "limits", l.g.lim)
		}
	}
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
	ip   string
	idle atomic.Bool // between requests (http.ConnState)

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

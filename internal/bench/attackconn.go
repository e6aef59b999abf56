package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The attacker's side: raw connections and requests written by hand, so
// that an attack can send what a well-behaved client library never would
// (a 60 KB method, a body trickled a byte at a time) and see exactly what
// the receiver did with it.

// Keys of AttackPhase.Attacker besides HTTP statuses.
const (
	// outRefused: the connection was closed before its TLS handshake
	// ended (at accept, past limits.max_conns*), or the dial failed.
	outRefused = "refused"
	// outClosed: the receiver closed the connection without an answer.
	outClosed = "closed"
	// outHeld: still open, unanswered, when the attack ended.
	outHeld = "held"
)

// tally counts the attacker's outcomes and open connections, from many
// goroutines.
type tally struct {
	mu   sync.Mutex
	m    map[string]int64
	open int64
	peak int64
}

// add counts one outcome; an attempt the attack's end cut short (ctx
// ended) is not one.
func (t *tally) add(ctx context.Context, k string) {
	if ctx.Err() != nil && !strings.HasSuffix(k, outHeld) {
		return
	}
	t.mu.Lock()
	t.m[k]++
	t.mu.Unlock()
}

// opened counts a connection as open until the returned function is called.
func (t *tally) opened() (closed func()) {
	t.mu.Lock()
	t.open++
	t.peak = max(t.peak, t.open)
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.open--
			t.mu.Unlock()
		})
	}
}

func (t *tally) snapshot() (map[string]int64, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.m), t.peak
}

// dialTLS opens a TLS connection to the receiver, presenting cert unless it
// is nil. The handshake is bounded as the receiver bounds it (10 s).
func dialTLS(ctx context.Context, t *Target, cert *tls.Certificate) (*tls.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.Addr, err)
	}
	cfg := &tls.Config{RootCAs: t.RootCAs, ServerName: t.ServerName, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// requestHead is an HTTP/1.1 request line and headers, written by hand.
// hdr holds "Key: value" lines without their CRLF.
func requestHead(method, target, host string, contentLength int, hdr ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for _, h := range hdr {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	if contentLength >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", contentLength)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// answers reads c's HTTP answers on its own goroutine and sends the status
// of each (outClosed once c ends) on the returned channel, until ctx ends:
// a trickled request must see an early answer while it is still writing.
// Close c and end ctx when done with it.
func answers(ctx context.Context, c net.Conn) <-chan string {
	ch := make(chan string, 1)
	go func() {
		br := bufio.NewReader(c)
		for {
			status := outClosed
			resp, err := http.ReadResponse(br, nil)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = strconv.Itoa(resp.StatusCode)
			}
			select {
			case ch <- status:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// trickle is one slow request on c, whose answers come on ans: head, the
// first `first` bytes of body at once, then chunk bytes every interval.
// It returns what became of it: the receiver's status, outClosed, or
// outHeld when ctx ended first (the attack's time was up).
func trickle(ctx context.Context, c net.Conn, ans <-chan string, head, body []byte, first, chunk int, every time.Duration) string {
	sent := 0
	write := func(p []byte) bool {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Write(p)
		return err == nil
	}
	ok := write(head)
	if ok && first > 0 {
		sent = min(first, len(body))
		ok = write(body[:sent])
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ok {
		select {
		case a := <-ans:
			return a
		case <-ctx.Done():
			return outHeld
		case <-tick.C:
			if sent < len(body) {
				n := min(chunk, len(body)-sent)
				ok = write(body[sent : sent+n])
				sent += n
			}
		}
	}
	// A write failed: the receiver answered and closed, or just closed.
	select {
	case a := <-ans:
		return a
	case <-time.After(time.Second):
		return outClosed
	case <-ctx.Done():
		return outHeld
	}
}

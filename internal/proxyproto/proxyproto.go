// Package proxyproto reads the PROXY protocol header (versions 1 and 2)
// a TCP load balancer such as haproxy (send-proxy-v2) puts before a
// connection's bytes, so a receiver behind it knows each caller's address.
// Only the header is read, never a byte past it.
package proxyproto

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// sigV2 starts every version 2 header.
var sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV1 is the longest version 1 line, CRLF included.
const maxV1 = 107

// ErrBad is matched by every error for a malformed header.
var ErrBad = errors.New("not a PROXY protocol header")

// ReadHeader reads a PROXY header from r and returns the source address it
// carries; nil for a header that carries none (LOCAL, UNKNOWN: a
// balancer's own health check).
func ReadHeader(r io.Reader) (*net.TCPAddr, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:12]); err != nil {
		return nil, fmt.Errorf("read the PROXY header: %w", err)
	}
	if bytes.Equal(head[:12], sigV2) {
		if _, err := io.ReadFull(r, head[12:16]); err != nil {
			return nil, fmt.Errorf("read the PROXY header: %w", err)
		}
		return readV2(r, head)
	}
	if string(head[:6]) == "PROXY " {
		return readV1(r, head[:12])
	}
	return nil, fmt.Errorf("%w: the connection did not start with one", ErrBad)
}

func readV2(r io.Reader, head [16]byte) (*net.TCPAddr, error) {
	if head[12]>>4 != 2 {
		return nil, fmt.Errorf("%w: version %d", ErrBad, head[12]>>4)
	}
	body := make([]byte, binary.BigEndian.Uint16(head[14:16]))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read the PROXY header: %w", err)
	}
	if head[12]&0x0f == 0 { // LOCAL: the balancer speaking for itself
		return nil, nil
	}
	switch head[13] {
	case 0x11: // TCP over IPv4
		if len(body) < 12 {
			return nil, fmt.Errorf("%w: short IPv4 addresses", ErrBad)
		}
		ip := netip.AddrFrom4([4]byte(body[0:4]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[8:10]))), nil
	case 0x21: // TCP over IPv6
		if len(body) < 36 {
			return nil, fmt.Errorf("%w: short IPv6 addresses", ErrBad)
		}
		ip := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[32:34]))), nil
	}
	return nil, nil // another family (UNIX, UDP, unspecified): no TCP source
}

func readV1(r io.Reader, start []byte) (*net.TCPAddr, error) {
	line := append(make([]byte, 0, maxV1), start...)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= maxV1 {
			return nil, fmt.Errorf("%w: a version 1 line longer than %d bytes", ErrBad, maxV1)
		}
		// One byte at a time: what follows the line is the client's.
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("read the PROXY header: %w", err)
		}
		line = append(line, b[0])
	}
	f := strings.Fields(strings.TrimSuffix(string(line), "\r\n"))
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w: %q", ErrBad, line)
	}
	ip, err := netip.ParseAddr(f[2])
	port, perr := strconv.ParseUint(f[4], 10, 16)
	if err != nil || perr != nil {
		return nil, fmt.Errorf("%w: %q", ErrBad, line)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}

// DialAsBalancer dials addr and introduces the connection with a PROXY
// protocol v1 header naming its own addresses, as a load balancer would:
// for the benchmarks and tests that talk to a receiver expecting one.
func DialAsBalancer(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	src, dst := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	if _, err := fmt.Fprintf(c, "PROXY TCP4 %s %s %d %d\r\n", src.IP, dst.IP, src.Port, dst.Port); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

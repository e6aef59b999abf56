package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
)

func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, sigV2...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func TestReadHeader(t *testing.T) {
	ipv4 := append(append(net.IPv4(10, 1, 2, 3).To4(), 10, 0, 0, 1), 0x30, 0x39, 0x20, 0xfb) // 12345 -> 8443
	ipv6 := make([]byte, 36)
	copy(ipv6, net.ParseIP("2001:db8::7"))
	binary.BigEndian.PutUint16(ipv6[32:], 4242)
	for _, c := range []struct {
		name string
		in   []byte
		want string // "" for no address
		bad  bool
	}{
		{"v2 TCP4", v2(1, 0x11, ipv4), "10.1.2.3:12345", false},
		{"v2 TCP6", v2(1, 0x21, ipv6), "[2001:db8::7]:4242", false},
		{"v2 LOCAL (health check)", v2(0, 0, nil), "", false},
		{"v2 with TLVs after the addresses", v2(1, 0x11, append(ipv4, 0x04, 0, 1, 'x')), "10.1.2.3:12345", false},
		{"v2 short addresses", v2(1, 0x11, ipv4[:6]), "", true},
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.9 10.0.0.1 5555 8443\r\n"), "192.0.2.9:5555", false},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), "", false},
		{"v1 garbage", []byte("PROXY TCP4 nope 10.0.0.1 x 8443\r\n"), "", true},
		{"v1 without an end", append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 200)...), "", true},
		{"a TLS hello", append([]byte{0x16, 0x03, 0x01}, make([]byte, 20)...), "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rest := []byte("\x16\x03\x01client bytes")
			r := bytes.NewReader(append(append([]byte{}, c.in...), rest...))
			addr, err := ReadHeader(r)
			if c.bad {
				if !errors.Is(err, ErrBad) {
					t.Fatalf("ReadHeader = %v, %v; want ErrBad", addr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ""; addr != nil {
				got = addr.String()
				if got != c.want {
					t.Fatalf("source %s; want %s", got, c.want)
				}
			} else if c.want != "" {
				t.Fatalf("no source; want %s", c.want)
			}
			if left, _ := io.ReadAll(r); !bytes.Equal(left, rest) {
				t.Fatalf("left %q after the header; want the client's bytes untouched", left)
			}
		})
	}
}

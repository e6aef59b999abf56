package localsrv

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// S3Counter is a reverse proxy on loopback in front of an S3 server that
// counts the GETs through it and the bytes they returned: what a search
// or a read fetches, for the benches and the tests that bound it.
type S3Counter struct {
	Endpoint   string // the proxy's: give it to the client in the server's place
	srv        *http.Server
	gets       atomic.Int64
	bytes      atomic.Int64
	serveEnded chan struct{}
}

// StartS3Counter starts a counting proxy in front of the S3 endpoint target.
func StartS3Counter(target string) (*S3Counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("the S3 endpoint %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the S3 counting proxy: %w", err)
	}
	c := &S3Counter{Endpoint: "http://" + ln.Addr().String(), serveEnded: make(chan struct{})}
	proxy := &httputil.ReverseProxy{
		// The Host header stays the proxy's: the client signed it.
		Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host },
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodGet {
				c.gets.Add(1)
				resp.Body = &countedBody{ReadCloser: resp.Body, n: &c.bytes}
			}
			return nil
		},
	}
	c.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(c.serveEnded)
		c.srv.Serve(ln)
	}()
	return c, nil
}

// GETs is how many GETs went through so far.
func (c *S3Counter) GETs() int64 { return c.gets.Load() }

// Bytes is how many bytes the GETs returned so far.
func (c *S3Counter) Bytes() int64 { return c.bytes.Load() }

// Close stops the proxy.
func (c *S3Counter) Close() {
	c.srv.Close()
	<-c.serveEnded
}

// countedBody adds the bytes read through it to n.
type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}

package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// apiClient asks the receiver about streams, over one keep-alive mutual
// TLS connection, with one host's or admin's credentials.
type apiClient struct {
	c    *http.Client
	base string
	tok  string
}

func newAPIClient(t *Target, h Host) *apiClient {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{h.Cert}, RootCAs: t.RootCAs,
			ServerName: t.ServerName, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &apiClient{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, base: "https://" + t.Addr, tok: h.Token}
}

func (a *apiClient) close() { a.c.CloseIdleConnections() }

func (a *apiClient) do(ctx context.Context, method, host, stream, query string) (*http.Response, error) {
	u := a.base + wire.LogsPath(host, stream)
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.tok)
	req.Header.Set("User-Agent", "cis490-bench")
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", method, host, stream, err)
	}
	return resp, nil
}

// length is the stream's length (HEAD); 0 for a stream not there yet.
func (a *apiClient) length(ctx context.Context, host, stream string) (int64, error) {
	resp, err := a.do(ctx, http.MethodHead, host, stream, "")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return 0, nil
	case http.StatusOK:
	default:
		return 0, fmt.Errorf("HEAD %s/%s: %s", host, stream, resp.Status)
	}
	n, err := strconv.ParseInt(resp.Header.Get(wire.HeaderLength), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("HEAD %s/%s: %s %q: %w", host, stream, wire.HeaderLength, resp.Header.Get(wire.HeaderLength), err)
	}
	return n, nil
}

// read returns up to limit stored bytes from offset (GET, admins only).
func (a *apiClient) read(ctx context.Context, host, stream string, offset int64, limit int) ([]byte, error) {
	resp, err := a.do(ctx, http.MethodGet, host, stream, fmt.Sprintf("%s=%d&%s=%d", wire.QueryOffset, offset, wire.QueryLimit, limit))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s/%s: %w", host, stream, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/%s: %s %s", host, stream, resp.Status, clipBytes(b, 200))
	}
	if got := resp.Header.Get(wire.HeaderOffset); got != strconv.FormatInt(offset, 10) {
		return nil, fmt.Errorf("GET %s/%s at %d: the bytes begin at %s", host, stream, offset, got)
	}
	return b, nil
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.TrimSpace(string(b))
}

package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/wire"
)

// Enroll spends a join token: it sends host's certificate request to the
// receiver over TLS pinned to the CA whose fingerprint the token names
// (the host has no CA to trust yet), and checks the answer carries that
// same CA. It needs no Client: a host enrolls before it has credentials.
func Enroll(ctx context.Context, receiver *url.URL, joinToken, caFingerprint, host string, csrPEM []byte) (*wire.Enrolled, error) {
	body, _ := json.Marshal(wire.EnrollRequest{Host: host, CSR: string(csrPEM)})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedTLS(caFingerprint, receiver.Hostname())}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(receiver.String(), "/")+wire.PathEnroll, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+joinToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("enroll at %s: %w", receiver.Host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e wire.Error
		json.Unmarshal(b, &e)
		return nil, fmt.Errorf("the receiver refused to enroll %s (%d): %s", host, resp.StatusCode, e.Error)
	}
	var got wire.Enrolled
	if err := json.Unmarshal(b, &got); err != nil {
		return nil, fmt.Errorf("the receiver's answer is not an enrollment: %w", err)
	}
	if ca, err := pki.ParseCertPEM([]byte(got.CA)); err != nil || pki.FingerprintOf(ca) != caFingerprint {
		return nil, errors.New("the receiver sent a CA other than the one the join token names; nothing written")
	}
	return &got, nil
}

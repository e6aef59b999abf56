package receiverd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves the receiver's certificate and picks up a renewed one
// from disk without a restart.
type certReloader struct {
	certPath, keyPath string
	caDER             []byte // sent after the server certificate: a host enrolling pins it by fingerprint
	mu                sync.Mutex
	cert              *tls.Certificate
	mod               time.Time
	checked           time.Time
}

func newCertReloader(certPath, keyPath string, caDER []byte) (*certReloader, error) {
	r := &certReloader{certPath: certPath, keyPath: keyPath, caDER: caDER}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	st, err := os.Stat(r.certPath)
	if err != nil {
		return fmt.Errorf("receiver certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return fmt.Errorf("load receiver certificate %s: %w", r.certPath, err)
	}
	if len(c.Certificate) == 1 && r.caDER != nil {
		c.Certificate = append(c.Certificate, r.caDER)
	}
	r.cert, r.mod = &c, st.ModTime()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) > 10*time.Second {
		r.checked = time.Now()
		if st, err := os.Stat(r.certPath); err == nil && !st.ModTime().Equal(r.mod) {
			if err := r.load(); err != nil && !errors.Is(err, os.ErrNotExist) {
				// Keep serving the old pair; a half-written renewal must not
				// take the receiver down.
				r.mod = st.ModTime()
			}
		}
	}
	return r.cert, nil
}

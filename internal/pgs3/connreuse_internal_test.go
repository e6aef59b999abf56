package pgs3

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestReadsReuseConnections: a read's parallel ranged GETs go over
// connections kept from the reads before, as a search's reads follow one
// another: with only the HTTP client's default two kept, every read
// dialled (on real S3, a TLS handshake) most of its GETs anew. The bucket
// is versitygw behind a proxy that keeps connections alive and counts
// those opened to it.
func TestReadsReuseConnections(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	dsn, s := testenv.Postgres(t), testenv.S3Server(t)
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target) // Host kept as sent: the signature holds
	var opened atomic.Int64
	front := httptest.NewUnstartedServer(proxy)
	front.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	front.Start()
	t.Cleanup(front.Close)
	s.Endpoint = front.URL
	b := openAt(t, dsn, s, "", nil, 0)
	st := b.Streams()
	// One append at a time: each in an object of its own, so that a read
	// of the stream is readParallel GETs at once.
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	var want []byte
	for i := range readParallel {
		line := fmt.Appendf(nil, "line %d of an object of its own\n", i)
		if _, err := store.Append(t.Context(), st, k, int64(len(want)), store.Gen{}, line); err != nil {
			t.Fatal(err)
		}
		want = append(want, line...)
	}
	before := opened.Load()
	const reads = 10
	for range reads {
		got, _, err := st.Read(t.Context(), k, 0, len(want))
		if err != nil || string(got) != string(want) {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if n := opened.Load() - before; n > 2*readParallel {
		t.Fatalf("%d reads of %d GETs each opened %d connections; want them kept between reads (at most %d)", reads, readParallel, n, 2*readParallel)
	}
}

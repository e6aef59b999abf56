package pgs3

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestSlowUploadOutlastsIdleTx: the batch's transaction waits for its
// object's upload; an upload slower than IdleTx (PostgreSQL's end for
// sessions idle inside a transaction, meant for stopped receivers) must
// not fail the batch: a receiver whose bucket is slow would otherwise fail
// every batch as large, for good.
func TestSlowUploadOutlastsIdleTx(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	dsn, s := testenv.Postgres(t), testenv.S3Server(t)
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			time.Sleep(2500 * time.Millisecond) // a slow bucket
		}
		proxy.ServeHTTP(w, r) // Host kept as sent: the signature holds
	}))
	t.Cleanup(slow.Close)
	s.Endpoint = slow.URL
	b := openAt(t, dsn, s, "", nil, time.Second)
	k := store.Key{Host: "lab-1", Stream: "syslog"}
	start := time.Now()
	if _, err := store.Append(t.Context(), b.Streams(), k, 0, store.Gen{}, []byte("hello\n")); err != nil {
		t.Fatalf("an append whose upload took %s, IdleTx 1s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	got, _, err := b.Streams().Read(t.Context(), k, 0, 100)
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}

package pgs3_test

import (
	"os"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/storetest"
	"github.com/cis490/cis490/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// servers is a fresh database and bucket on the shared test servers.
func servers(t *testing.T) (string, testenv.S3) {
	t.Helper()
	testenv.Require(t, testenv.PostgreSQL())
	s3 := testenv.S3Server(t)
	return testenv.Postgres(t), s3
}

func s3Of(s testenv.S3) pgs3.S3 {
	return pgs3.S3{Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey}
}

func open(t *testing.T, opt pgs3.Options) *pgs3.Backend {
	t.Helper()
	b, err := pgs3.Open(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestConformance holds postgres+s3 to the storage promises.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, q storetest.Quotas, now func() time.Time) storetest.Backend {
		dsn, s3 := servers(t)
		b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3), Now: now,
			HostBytesPerDay: q.HostBytesPerDay, HostBytesTotal: q.HostBytesTotal, HostStreams: q.HostStreams})
		return storetest.Backend{Streams: b.Streams(), Index: b.Lines(), Source: b.Lines(),
			Retain: func(t *testing.T) {
				m, err := b.Maintain(t.Context(), pgs3.Retention{MaxAge: q.MaxAge}, now(), time.Minute)
				if err != nil || !m.Held {
					t.Fatalf("maintain: %+v %v", m, err)
				}
			}}
	})
}

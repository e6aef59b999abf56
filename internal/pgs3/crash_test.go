package pgs3_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// TestServersKilledMidRun ships from several hosts while the bucket's
// server and then PostgreSQL are killed -9 and started again: appends in
// flight fail (the receiver answers 503 and the host retries), none that
// was acknowledged is lost or stored twice, and the objects of batches
// that never committed are collected, leaving every object referenced.
func TestServersKilledMidRun(t *testing.T) {
	testenv.Require(t, testenv.PostgreSQL())
	setup := time.Now()
	defer func() { t.Logf("whole test %s", time.Since(setup).Round(time.Millisecond)) }()
	pg := testenv.NewPostgres(t)
	s3 := testenv.NewS3(t)
	dsn := pg.NewDB()
	b := open(t, pgs3.Options{Postgres: dsn, S3: s3Of(s3.S3)})
	streams := b.Streams()
	t.Logf("servers up in %s", time.Since(setup).Round(time.Millisecond))

	const hosts = 6
	ctx, stop := context.WithCancel(t.Context())
	acked := make([]string, hosts) // what each host was told is stored
	var failed sync.Map            // host → errors seen (a 503 in real life)
	var wg sync.WaitGroup
	for h := range hosts {
		wg.Go(func() {
			k := store.Key{Host: fmt.Sprintf("lab-%02d", h), Stream: "syslog"}
			for i := 0; ctx.Err() == nil; {
				line := fmt.Sprintf("%s line %06d %s\n", k.Host, i, strings.Repeat("x", i%200))
				b, err := store.Append(context.WithoutCancel(ctx), streams, k, int64(len(acked[h])), store.Gen{}, []byte(line))
				if err != nil {
					n, _ := failed.LoadOrStore(k.Host, new(int))
					*n.(*int)++
					time.Sleep(20 * time.Millisecond) // the shipper's backoff, shortened
					continue
				}
				if b.Length != int64(len(acked[h]))+int64(len(line)) {
					t.Errorf("%s: length %d after appending at %d; want %d", k, b.Length, len(acked[h]), len(acked[h])+len(line))
				}
				acked[h] += line
				i++
			}
		})
	}
	step := func(what string, f func()) {
		time.Sleep(400 * time.Millisecond)
		start := time.Now()
		f()
		t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
	}
	step("kill the S3 server", s3.Kill)
	step("start it again", s3.Start)
	step("kill PostgreSQL", pg.Kill)
	step("start it again", pg.Start)
	time.Sleep(800 * time.Millisecond)
	stop()
	waited := time.Now()
	wg.Wait()
	t.Logf("the hosts stopped in %s", time.Since(waited).Round(time.Millisecond))

	for h := range hosts {
		k := store.Key{Host: fmt.Sprintf("lab-%02d", h), Stream: "syslog"}
		got, info, err := streams.Read(t.Context(), k, 0, 1<<30)
		if err != nil {
			t.Fatalf("read %s back: %v", k, err)
		}
		if info.Length != int64(len(acked[h])) || !bytes.Equal(got, []byte(acked[h])) {
			t.Fatalf("%s holds %d bytes (length %d); %d were acknowledged: every acknowledged byte must be there, once", k, len(got), info.Length, len(acked[h]))
		}
		if len(acked[h]) == 0 {
			t.Fatalf("%s stored nothing: the servers never came back for it", k)
		}
	}
	n := 0
	failed.Range(func(_, v any) bool { n += *v.(*int); return true })
	if n == 0 {
		t.Fatal("no append failed while the servers were down: the kills did not happen mid-run")
	}

	// Orphans: objects uploaded for batches that never committed.
	collectStart := time.Now()
	collected, err := b.Collect(t.Context(), time.Now().Add(2*pgs3.OrphanAge))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collected %d orphans in %s", collected, time.Since(collectStart).Round(time.Millisecond))
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), `SELECT DISTINCT object FROM extents`)
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	root := filepath.Join(s3.Dir, s3.Bucket)
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/.sgwtmp") {
			rel, _ := filepath.Rel(root, p)
			left[rel] = true
		}
		return nil
	})
	for _, r := range refs {
		if !left[r] {
			t.Errorf("object %s is referenced but gone", r)
		}
		delete(left, r)
	}
	for o := range left {
		t.Errorf("object %s is referenced by nothing and was not collected", o)
	}
	t.Logf("%d appends failed while a server was down; %d objects referenced", n, len(refs))
}

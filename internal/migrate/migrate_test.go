package migrate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/migrate"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

var day0 = time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)

// fill writes n appends an hour apart to each stream and one index line
// per append, starting at *now, through the real local storage.
func fill(t *testing.T, dir string, now *time.Time, n int, opt store.Options) {
	t.Helper()
	opt.Now = func() time.Time { return *now }
	stg, err := receiverd.OpenStorage(dir, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stg.Close()
	for i := range n {
		for _, k := range []store.Key{{Host: "lab-01", Stream: "syslog"}, {Host: "lab-01", Stream: "auth"}, {Host: "lab-02", Stream: "syslog"}} {
			info, _, _ := stg.Store.Stat(t.Context(), k)
			gen := store.Gen{}
			if i%3 == 0 {
				gen = store.Gen{ID: fmt.Sprintf("2049-%d-%s", i, k.Stream), Start: info.Length}
			}
			b, err := stg.Store.Begin(t.Context(), k, info.Length, gen, fmt.Appendf(nil, "%s %s line %d at %s\n", k.Host, k.Stream, i, now.Format(time.RFC3339)))
			if err != nil {
				t.Fatal(err)
			}
			d, err := stg.Index.Begin(index.Line{TS: *now, Host: k.Host, Stream: k.Stream, Method: "PUT", Endpoint: "logs", Status: 201, Auth: true, Bytes: b.Appended})
			if err != nil {
				t.Fatal(err)
			}
			if err := d(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := b.Durable(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		*now = now.Add(time.Hour)
	}
	if _, err := stg.Store.Retain(); err != nil {
		t.Fatal(err)
	}
}

// snapshot hashes every file of a folder, to show migrate changed none.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = sha256.Sum256(b)
		return nil
	})
	return out
}

func backend(t *testing.T) *pgs3.Backend {
	t.Helper()
	testenv.Require(t, testenv.PostgreSQL())
	s3 := testenv.S3Server(t)
	b, err := pgs3.Open(t.Context(), pgs3.Options{Postgres: testenv.Postgres(t),
		S3: pgs3.S3{Endpoint: s3.Endpoint, Region: s3.Region, Bucket: s3.Bucket, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestMigrate copies a folder with retention behind it and index days on
// both sides of midnight, leaves it untouched, keeps offsets, times and
// generations, and resumes: a second run after more was written copies
// only what is new.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	now := day0
	opt := store.Options{SegmentSize: 1024, MaxAge: 5 * time.Hour}
	fill(t, dir, &now, 8, opt)
	b := backend(t)
	before := snapshot(t, dir)
	var out bytes.Buffer
	rep, err := migrate.Run(t.Context(), migrate.Options{DataDir: dir, Backend: b, Out: &out})
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if rep.Streams != 3 || rep.Days != 2 || rep.Lines != 24 || rep.Bytes == 0 {
		t.Fatalf("report %+v; want 3 streams, 2 days, 24 lines", rep)
	}
	if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("migrate changed the data folder")
	}
	k := store.Key{Host: "lab-01", Stream: "syslog"}
	info, _, _ := b.Streams().Stat(t.Context(), k)
	if info.Start == 0 {
		t.Fatalf("%s starts at 0 in the backend: the folder's retention should have moved it (segments of 1 KiB, 5 h kept)", k)
	}
	// The time → offset map came along: --since works as before.
	stg, err := receiverd.OpenStorage(dir, store.Options{SegmentSize: 1024}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for h := range 8 {
		at := day0.Add(time.Duration(h)*time.Hour + time.Minute)
		want, _ := stg.Store.OffsetAt(t.Context(), k, at)
		got, err := b.Streams().OffsetAt(t.Context(), k, at)
		if err != nil || got != want {
			t.Errorf("offset at %s: %d %v in the backend; %d in the folder", at.Format(time.Kitchen), got, err, want)
		}
	}
	stg.Close()

	// More is written; the next run copies only that.
	fill(t, dir, &now, 2, opt)
	out.Reset()
	rep, err = migrate.Run(t.Context(), migrate.Options{DataDir: dir, Backend: b, Out: &out})
	if err != nil {
		t.Fatalf("second migrate: %v\n%s", err, out.String())
	}
	if rep.Lines != 6 || rep.Bytes == 0 || rep.Bytes > 3*2*80 {
		t.Fatalf("the second run copied %d lines and %d bytes; want only the 6 new appends and their lines", rep.Lines, rep.Bytes)
	}
}

// TestMigrateRefuses: a folder a receiver holds, or one a crash left
// needing recovery, is refused with the fix, and left as it was.
func TestMigrateRefuses(t *testing.T) {
	dir := t.TempDir()
	now := day0
	fill(t, dir, &now, 2, store.Options{})
	b := backend(t)

	stg, err := receiverd.OpenStorage(dir, store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Run(t.Context(), migrate.Options{DataDir: dir, Backend: b})
	stg.Close()
	if err == nil || !strings.Contains(err.Error(), "cis490 receiver (pid") || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("migrate while a receiver holds the folder: %v; want a refusal naming it", err)
	}

	// A torn tail: half a record at the end of the newest segment.
	segs, _ := filepath.Glob(filepath.Join(datadir.Dir(dir).Logs(), "seg-*.log"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\x00\x01torn"))
	f.Close()
	before := snapshot(t, dir)
	_, err = migrate.Run(context.WithoutCancel(t.Context()), migrate.Options{DataDir: dir, Backend: b})
	if err == nil || !strings.Contains(err.Error(), "needs a recovery first") {
		t.Fatalf("migrate of a folder needing recovery: %v; want the fix", err)
	}
	if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("migrate changed a folder it refused")
	}
}

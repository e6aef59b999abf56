package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// psql runs one statement on dsn and returns its unaligned output.
func psql(t *testing.T, dsn, sql string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(pgBin(), "psql"), "-X", "-qtA", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestPostgresShared(t *testing.T) {
	start := time.Now()
	a := Postgres(t)
	t.Logf("shared cluster and a first database in %v", time.Since(start))
	start = time.Now()
	b := Postgres(t)
	t.Logf("a fresh database in %v", time.Since(start))
	if a == b {
		t.Fatalf("two calls gave one database: %s", a)
	}
	for _, dsn := range []string{a, b} {
		if got := psql(t, dsn, "select 1"); got != "1" {
			t.Fatalf("select 1 on %s: %q", dsn, got)
		}
		if got := psql(t, dsn, "select count(*) from pg_tables where schemaname = 'public'"); got != "0" {
			t.Fatalf("%s is not empty: %s tables", dsn, got)
		}
		if got := psql(t, dsn, "show fsync"); got != "on" {
			t.Fatalf("fsync = %s", got)
		}
		if got := psql(t, dsn, "show synchronous_commit"); got != "on" {
			t.Fatalf("synchronous_commit = %s", got)
		}
	}
}

func TestPostgresKillKeepsCommitted(t *testing.T) {
	start := time.Now()
	pg := NewPostgres(t)
	t.Logf("private cluster (initdb and start) in %v", time.Since(start))
	dsn := pg.NewDB()
	psql(t, dsn, "create table t (v text); insert into t values ('committed')")
	pg.Kill()
	if exec.Command(filepath.Join(pgBin(), "pg_isready"), "-h", "127.0.0.1", "-p", strings.Split(strings.Split(dsn, ":")[2], "/")[0]).Run() == nil {
		t.Fatal("server still answers after Kill")
	}
	start = time.Now()
	pg.Start()
	t.Logf("restart after kill -9 (crash recovery) in %v", time.Since(start))
	if got := psql(t, dsn, "select v from t"); got != "committed" {
		t.Fatalf("after kill -9 and restart: %q", got)
	}
	psql(t, dsn, "insert into t values ('again')")
	pg.Stop()
	pg.Start()
	if got := psql(t, dsn, "select count(*) from t"); got != "2" {
		t.Fatalf("after stop and start: %s rows", got)
	}
	if got := psql(t, pg.DSN("postgres"), "select 1"); got != "1" {
		t.Fatalf("select 1 on postgres: %q", got)
	}
}

// s3curl sends one signed request with curl and returns the status and
// body.
func s3curl(t *testing.T, s S3, method, key, body string, headers ...string) (string, string) {
	t.Helper()
	args := []string{"-sS", "-X", method, "-w", "\n%{http_code}",
		"--aws-sigv4", "aws:amz:" + s.Region + ":s3", "--user", s.AccessKey + ":" + s.SecretKey,
		// curl 7.88 signs the payload but does not send its hash, which
		// versitygw requires.
		"-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	if method == "PUT" {
		args = append(args, "--data-binary", body)
	}
	out, err := exec.Command("curl", append(args, s.Endpoint+"/"+s.Bucket+"/"+key)...).Output()
	if err != nil {
		t.Fatalf("curl %s %s: %v", method, key, err)
	}
	i := strings.LastIndexByte(string(out), '\n')
	return string(out[i+1:]), string(out[:i])
}

func TestS3Server(t *testing.T) {
	Require(t, Tool("curl", "curl"))
	start := time.Now()
	s := S3Server(t)
	t.Logf("shared S3 server (build and start) in %v", time.Since(start))
	if s2 := S3Server(t); s2.Bucket == s.Bucket || s2.Endpoint != s.Endpoint {
		t.Fatalf("second bucket %q on %s; first %q on %s", s2.Bucket, s2.Endpoint, s.Bucket, s.Endpoint)
	}
	for _, c := range []struct {
		method, key, body string
		headers           []string
		code, want        string
	}{
		{"PUT", "a/b/obj", "hello world", nil, "200", ""},
		{"GET", "a/b/obj", "", nil, "200", "hello world"},
		{"GET", "a/b/obj", "", []string{"Range: bytes=2-4"}, "206", "llo"},
		{"PUT", "once", "first", []string{"If-None-Match: *"}, "200", ""},
		{"PUT", "once", "second", []string{"If-None-Match: *"}, "412", ""},
		{"GET", "once", "", nil, "200", "first"},
		{"GET", "missing", "", nil, "404", ""},
	} {
		code, body := s3curl(t, s, c.method, c.key, c.body, c.headers...)
		if code != c.code || (c.want != "" && body != c.want) {
			t.Fatalf("%s %s %v: %s %q; want %s %q", c.method, c.key, c.headers, code, body, c.code, c.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.Dir, s.Bucket, "a/b/obj")); err != nil || string(b) != "hello world" {
		t.Fatalf("object's file: %q, %v", b, err)
	}
}

func TestS3KillKeepsObjects(t *testing.T) {
	Require(t, Tool("curl", "curl"))
	s := NewS3(t)
	if code, _ := s3curl(t, s.S3, "PUT", "k", "kept", "If-None-Match: *"); code != "200" {
		t.Fatalf("PUT: %s", code)
	}
	s.Kill()
	start := time.Now()
	s.Start()
	t.Logf("versitygw started in %v", time.Since(start))
	if code, body := s3curl(t, s.S3, "GET", "k", ""); code != "200" || body != "kept" {
		t.Fatalf("GET after kill -9 and start: %s %q", code, body)
	}
	if code, _ := s3curl(t, s.S3, "PUT", "k", "again", "If-None-Match: *"); code != "412" {
		t.Fatalf("If-None-Match PUT after restart: %s", code)
	}
}

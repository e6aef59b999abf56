package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageValidate(t *testing.T) {
	good := Storage{Backend: BackendPostgresS3,
		Postgres: StoragePostgres{URL: "postgres://cis490@db.lab:5432/cis490?sslmode=verify-full", PasswordFile: "/etc/cis490/pg.password"},
		S3:       StorageS3{Endpoint: "https://s3.lab:9000", Bucket: "cis490", CredentialsFile: "/etc/cis490/s3.credentials"}}
	cases := []struct {
		name   string
		change func(s *Storage)
		want   string // in the message; "" is valid
	}{
		{"good", func(*Storage) {}, ""},
		{"local", func(s *Storage) { *s = Storage{Backend: "local"} }, ""},
		{"default", func(s *Storage) { *s = Storage{} }, ""},
		{"unknown backend", func(s *Storage) { s.Backend = "mysql" }, `write "local"`},
		{"password in URL", func(s *Storage) { s.Postgres.URL = "postgres://cis490:hunter2@db.lab/cis490?sslmode=verify-full" }, "password_file"},
		{"no TLS to a remote database", func(s *Storage) { s.Postgres.URL = "postgres://cis490@db.lab/cis490" }, "sslmode=verify-full"},
		{"plain on loopback", func(s *Storage) { s.Postgres.URL = "postgres://cis490@127.0.0.1:5432/cis490" }, ""},
		{"not postgres", func(s *Storage) { s.Postgres.URL = "mysql://db" }, "postgres:// URL"},
		{"plain http to a remote bucket", func(s *Storage) { s.S3.Endpoint = "http://s3.lab:9000" }, "write https://"},
		{"plain http on loopback", func(s *Storage) { s.S3.Endpoint = "http://127.0.0.1:9000" }, ""},
		{"no bucket", func(s *Storage) { s.S3.Bucket = "" }, "bucket"},
		{"prefix without its slash", func(s *Storage) { s.S3.Prefix = "cis490" }, "must end in /"},
		{"prefix", func(s *Storage) { s.S3.Prefix = "cis490/" }, ""},
		{"no credentials", func(s *Storage) { s.S3.CredentialsFile = "" }, "credentials_file"},
		{"relative credentials", func(s *Storage) { s.S3.CredentialsFile = "s3.credentials" }, "relative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good
			c.change(&s)
			p := &problems{file: "receiver.toml"}
			s.validate(p)
			err := p.err()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v; want one saying %q", err, c.want)
			}
		})
	}
}

func TestStorageSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pg.password")
	creds := filepath.Join(dir, "s3.credentials")
	os.WriteFile(pw, []byte("s3cr3t/with:odd@chars\n"), 0o600)
	os.WriteFile(creds, []byte("access_key_id = \"AK\"\nsecret_access_key = \"SK\"\n"), 0o600)
	s := Storage{Backend: BackendPostgresS3, Postgres: StoragePostgres{URL: "postgres://cis490@127.0.0.1:5432/db", PasswordFile: pw},
		S3: StorageS3{CredentialsFile: creds}}
	u, err := s.PostgresURL()
	if err != nil || u != "postgres://cis490:s3cr3t%2Fwith%3Aodd%40chars@127.0.0.1:5432/db" {
		t.Fatalf("URL with the password: %q %v", u, err)
	}
	if id, secret, err := s.S3Keys(); err != nil || id != "AK" || secret != "SK" {
		t.Fatalf("S3 keys: %q %q %v", id, secret, err)
	}
	os.WriteFile(creds, []byte("access_key_id = \"AK\"\nsecret = \"SK\"\n"), 0o600)
	if _, _, err := s.S3Keys(); err == nil || !strings.Contains(err.Error(), "unknown key secret") {
		t.Fatalf("a misnamed key: %v; want it named", err)
	}
	os.WriteFile(pw, []byte("\n"), 0o600)
	if _, err := s.PostgresURL(); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("an empty password file: %v", err)
	}
}

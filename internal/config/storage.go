package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Storage backends.
const (
	BackendLocal      = "local"
	BackendPostgresS3 = "postgres+s3"
)

// Storage says where the receiver keeps what it stores: everything under
// data_dir ("local", the default), or PostgreSQL and an S3-compatible
// bucket shared by several receivers ("postgres+s3"). Credentials come
// from files, never from receiver.toml itself.
type Storage struct {
	Backend  string          `toml:"backend"`
	Postgres StoragePostgres `toml:"postgres"`
	S3       StorageS3       `toml:"s3"`
}

// StoragePostgres is the database of the postgres+s3 backend.
type StoragePostgres struct {
	// URL is the connection string without a password, like
	// postgres://cis490@db.lab:5432/cis490?sslmode=verify-full.
	URL string `toml:"url"`
	// PasswordFile holds the password on its first line (empty: none,
	// e.g. peer or certificate authentication).
	PasswordFile string `toml:"password_file"`
}

// StorageS3 is the bucket of the postgres+s3 backend.
type StorageS3 struct {
	Endpoint string `toml:"endpoint"` // https://s3.lab:9000
	Region   string `toml:"region"`   // default us-east-1
	Bucket   string `toml:"bucket"`
	// Prefix is where in the bucket this fleet's objects go ("" or ending
	// in /). The bucket, or the prefix, must be this fleet's alone: the
	// receivers delete the orphans they find there.
	Prefix string `toml:"prefix"`
	// CredentialsFile holds access_key_id = "…" and
	// secret_access_key = "…" (TOML).
	CredentialsFile string `toml:"credentials_file"`
}

// Shared reports whether the backend is shared by several receivers.
func (s Storage) Shared() bool { return s.Backend == BackendPostgresS3 }

func (s *Storage) resolve(dir string) {
	s.Postgres.PasswordFile = resolvePath(dir, s.Postgres.PasswordFile)
	s.S3.CredentialsFile = resolvePath(dir, s.S3.CredentialsFile)
}

func (s Storage) validate(p *problems) {
	switch s.Backend {
	case "", BackendLocal:
		return
	case BackendPostgresS3:
	default:
		p.add("storage.backend", "%q is not a backend; write \"local\" (the default) or \"postgres+s3\"", s.Backend)
		return
	}
	u, err := url.Parse(s.Postgres.URL)
	switch {
	case s.Postgres.URL == "":
		p.add("storage.postgres.url", `is empty; write the database's address, like "postgres://cis490@db.lab:5432/cis490?sslmode=verify-full"`)
	case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql"):
		p.add("storage.postgres.url", "is not a postgres:// URL; write one like \"postgres://cis490@db.lab:5432/cis490?sslmode=verify-full\"")
	default:
		if _, has := u.User.Password(); has {
			p.add("storage.postgres.url", "holds a password; take it out of the URL and put it in the file storage.postgres.password_file names (mode 0600)")
		}
		if !loopbackHost(u.Hostname()) {
			switch u.Query().Get("sslmode") {
			case "require", "verify-ca", "verify-full":
			default:
				p.add("storage.postgres.url", "reaches %s without TLS; add ?sslmode=verify-full (plain connections are allowed only on loopback)", u.Hostname())
			}
		}
	}
	if s.Postgres.PasswordFile != "" {
		absPath(p, "storage.postgres.password_file", s.Postgres.PasswordFile, false)
	}
	e, err := url.Parse(s.S3.Endpoint)
	switch {
	case s.S3.Endpoint == "":
		p.add("storage.s3.endpoint", `is empty; write the S3 endpoint, like "https://s3.lab:9000"`)
	case err != nil || e.Host == "" || (e.Scheme != "https" && e.Scheme != "http"):
		p.add("storage.s3.endpoint", "%q is not an http(s) URL; write one like \"https://s3.lab:9000\"", s.S3.Endpoint)
	case e.Scheme == "http" && !loopbackHost(e.Hostname()):
		p.add("storage.s3.endpoint", "reaches %s without TLS; write https:// (plain http is allowed only on loopback)", e.Hostname())
	}
	if pf := s.S3.Prefix; pf != "" && !strings.HasSuffix(pf, "/") {
		p.add("storage.s3.prefix", "%q must end in /, like \"cis490/\": the receivers delete orphans under it, and without the slash it would take in %q too", pf, pf+"-other/")
	}
	if s.S3.Bucket == "" {
		p.add("storage.s3.bucket", "is empty; write the bucket's name")
	}
	if s.S3.CredentialsFile == "" {
		p.add("storage.s3.credentials_file", "is empty; write the path of a file holding access_key_id and secret_access_key")
	} else {
		absPath(p, "storage.s3.credentials_file", s.S3.CredentialsFile, false)
	}
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// PostgresURL is the connection string with the password file's password.
func (s Storage) PostgresURL() (string, error) {
	if s.Postgres.PasswordFile == "" {
		return s.Postgres.URL, nil
	}
	b, err := os.ReadFile(s.Postgres.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read storage.postgres.password_file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimRight(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("storage.postgres.password_file %s is empty; write the password on its first line", s.Postgres.PasswordFile)
	}
	u, err := url.Parse(s.Postgres.URL)
	if err != nil {
		return "", fmt.Errorf("storage.postgres.url: %w", err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String(), nil
}

// S3Keys reads the bucket's access key and secret.
func (s Storage) S3Keys() (id, secret string, err error) {
	var c struct {
		ID     string `toml:"access_key_id"`
		Secret string `toml:"secret_access_key"`
	}
	md, err := toml.DecodeFile(s.S3.CredentialsFile, &c)
	if err != nil {
		return "", "", fmt.Errorf("read storage.s3.credentials_file: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return "", "", fmt.Errorf("storage.s3.credentials_file %s: unknown key %s; it holds access_key_id and secret_access_key only", s.S3.CredentialsFile, und[0])
	}
	if c.ID == "" || c.Secret == "" {
		return "", "", errors.New("storage.s3.credentials_file " + s.S3.CredentialsFile + " lacks access_key_id or secret_access_key; write both")
	}
	return c.ID, c.Secret, nil
}

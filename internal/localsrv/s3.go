package localsrv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// VersityGWPackage is the S3 gateway pinned in tools/go.mod.
const VersityGWPackage = "github.com/versity/versitygw/cmd/versitygw"

// S3 is an S3-compatible endpoint (path-style, plain HTTP) and a bucket
// on it.
type S3 struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string
	Dir       string // the posix root: objects are files in Dir/Bucket
}

// S3Proc is versitygw's posix backend serving a folder of its own. It
// never fsyncs: what it stores survives its own crash, not a power loss.
type S3Proc struct {
	S3
	bin  string
	port int
	p    *proc // nil while stopped
}

// NewS3 starts versitygw (the binary bin) over a new folder under parent
// ("" for os.TempDir()) with random keys, and no bucket yet.
func NewS3(bin, parent string) (*S3Proc, error) {
	dir, err := os.MkdirTemp(parent, "cis490-s3-")
	if err != nil {
		return nil, err
	}
	// The posix backend keeps ETags and the If-None-Match lock state in
	// user xattrs; with --nometa a second If-None-Match: * PUT silently
	// overwrites, so a folder without xattrs is refused rather than used.
	if err := syscall.Setxattr(dir, "user.cis490-probe", []byte{1}, 0); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s has no user xattrs, which versitygw needs: use a folder on ext4 or xfs (TMPDIR, or the bench's --dir): %w", dir, err)
	}
	syscall.Removexattr(dir, "user.cis490-probe")
	s := &S3Proc{S3: S3{Region: "us-east-1", AccessKey: randHex(10), SecretKey: randHex(20), Dir: filepath.Join(dir, "root")}, bin: bin}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// Log is the server's log file.
func (s *S3Proc) Log() string { return filepath.Join(filepath.Dir(s.Dir), "versitygw.log") }

// PID is the server's process id, 0 while stopped.
func (s *S3Proc) PID() int {
	if s.p == nil {
		return 0
	}
	return s.p.cmd.Process.Pid
}

// NewBucket makes an empty bucket (a folder of the posix root) and returns
// the endpoint with it.
func (s *S3Proc) NewBucket(name string) (S3, error) {
	if err := os.Mkdir(filepath.Join(s.Dir, name), 0o755); err != nil {
		return S3{}, err
	}
	c := s.S3
	c.Bucket = name
	return c, nil
}

// Start runs the server and waits until its port answers; the first start
// retries on another port if the chosen one was taken meanwhile.
func (s *S3Proc) Start() error {
	if s.p != nil {
		return fmt.Errorf("S3 server already running")
	}
	first := s.port == 0
	for try := 0; ; try++ {
		if first {
			port, err := freePort()
			if err != nil {
				return err
			}
			s.port = port
		}
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
		cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.port),
			"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region, "--quiet",
			"--keep-alive", // as S3 does: a client keeps its connections
			"posix", s.Dir)
		cmd.Dir = filepath.Dir(s.Dir)
		p, err := startProc(cmd, s.Log())
		if err != nil {
			return err
		}
		port := s.port
		err = waitReady(p, 30*time.Second, func() bool { return dialable(port) })
		if err == nil {
			s.p = p
			return nil
		}
		p.kill()
		log := tail(s.Log())
		if first && try < 5 && strings.Contains(log, "address already in use") {
			continue
		}
		return fmt.Errorf("versitygw on port %d: %v\n%s", s.port, err, log)
	}
}

// Kill is kill -9 of the server.
func (s *S3Proc) Kill() {
	if s.p != nil {
		s.p.kill()
		s.p = nil
	}
}

// Destroy stops the server and removes its folder.
func (s *S3Proc) Destroy() {
	if s.p != nil {
		s.p.stop(syscall.SIGTERM, 5*time.Second)
		s.p = nil
	}
	os.RemoveAll(filepath.Dir(s.Dir))
}

// StorageTOML writes bucket s's keys to the file s3.credentials in dir and
// returns receiver.toml's [storage] section for the postgres+s3 backend on
// database dsn and that bucket.
func StorageTOML(dir, dsn string, s S3) (string, error) {
	creds := filepath.Join(dir, "s3.credentials")
	if err := os.WriteFile(creds, fmt.Appendf(nil, "access_key_id = %q\nsecret_access_key = %q\n", s.AccessKey, s.SecretKey), 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf(`
[storage]
backend = "postgres+s3"
[storage.postgres]
url = %q
[storage.s3]
endpoint = %q
region = %q
bucket = %q
credentials_file = %q
`, dsn, s.Endpoint, s.Region, s.Bucket, creds), nil
}

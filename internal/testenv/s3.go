package testenv

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
	"testing"
	"time"
)

// vgwPkg is the S3 gateway pinned in tools/go.mod.
const vgwPkg = "github.com/versity/versitygw/cmd/versitygw"

// S3 is an S3-compatible endpoint (path-style, plain HTTP) and a bucket
// of the test's own on it.
type S3 struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string
	Dir       string // the posix root: objects are files in Dir/Bucket
}

// S3Proc is an S3 server of the test's own, for crash tests.
type S3Proc struct {
	S3
	t    testing.TB // nil for the shared one
	bin  string
	port int
	p    *proc // nil while stopped
}

// S3Server returns a fresh, empty bucket on versitygw over a temporary
// folder, shared by the test binary and started on first use
// (StopShared stops it).
func S3Server(t testing.TB) S3 {
	t.Helper()
	shared.mu.Lock()
	if shared.s3 == nil && shared.s3Err == nil {
		var bin string
		if bin, shared.s3Err = vgwBinLocked(); shared.s3Err == nil {
			shared.s3, shared.s3Err = newS3Proc(bin)
		}
	}
	s, err := shared.s3, shared.s3Err
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("shared S3 server: %v", err)
	}
	c := s.S3
	c.Bucket = nextName("b", t.Name())
	if err := os.Mkdir(filepath.Join(c.Dir, c.Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// NewS3 starts an S3 server of the test's own, with a bucket, which the
// test may kill and start again; the test's cleanup removes it.
func NewS3(t testing.TB) *S3Proc {
	t.Helper()
	shared.mu.Lock()
	bin, err := vgwBinLocked()
	shared.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	s, err := newS3Proc(bin)
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(s.destroy)
	s.Bucket = nextName("b", t.Name())
	if err := os.Mkdir(filepath.Join(s.Dir, s.Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// Kill is kill -9 of the server.
func (s *S3Proc) Kill() {
	if s.p != nil {
		s.p.kill()
		s.p = nil
	}
}

// Start starts the server again on the same port, folder and keys.
func (s *S3Proc) Start() {
	s.t.Helper()
	if s.p != nil {
		s.t.Fatal("S3 server already running")
	}
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// vgwBinLocked builds versitygw once per test binary, from the module
// root so that -modfile=tools/go.mod pins it; Go's build cache makes it
// quick after the first time (.ci/run builds it first). Called with
// shared.mu held.
func vgwBinLocked() (string, error) {
	if shared.vgw != "" || shared.vgwErr != nil {
		return shared.vgw, shared.vgwErr
	}
	shared.vgwErr = func() error {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "cis490-vgw-")
		if err != nil {
			return err
		}
		bin := filepath.Join(dir, "versitygw")
		cmd := exec.Command("go", "build", "-modfile=tools/go.mod", "-buildvcs=false", "-o", bin, vgwPkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("building versitygw: %w\n%s", err, out)
		}
		shared.vgw, shared.vgwDir = bin, dir
		return nil
	}()
	return shared.vgw, shared.vgwErr
}

// newS3Proc starts versitygw's posix backend over a new temporary folder
// with random keys.
func newS3Proc(bin string) (*S3Proc, error) {
	dir, err := os.MkdirTemp("", "cis490-s3-")
	if err != nil {
		return nil, err
	}
	// The posix backend keeps ETags and the If-None-Match lock state in
	// user xattrs; with --nometa a second If-None-Match: * PUT silently
	// overwrites, so a folder without xattrs is refused rather than used.
	if err := syscall.Setxattr(dir, "user.cis490-probe", []byte{1}, 0); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s has no user xattrs, which versitygw needs: set TMPDIR to a folder on ext4 or xfs: %w", dir, err)
	}
	syscall.Removexattr(dir, "user.cis490-probe")
	s := &S3Proc{S3: S3{Region: "us-east-1", AccessKey: randHex(10), SecretKey: randHex(20), Dir: filepath.Join(dir, "root")}, bin: bin}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.start(); err != nil {
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

func (s *S3Proc) log() string { return filepath.Join(filepath.Dir(s.Dir), "versitygw.log") }

// start runs the server and waits until its port answers; the first start
// retries on another port if the chosen one was taken meanwhile.
func (s *S3Proc) start() error {
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
			"posix", s.Dir)
		cmd.Dir = filepath.Dir(s.Dir)
		p, err := startProc(cmd, s.log())
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
		log := tail(s.log())
		if first && try < 5 && strings.Contains(log, "address already in use") {
			continue
		}
		return fmt.Errorf("versitygw on port %d: %v\n%s", s.port, err, log)
	}
}

// destroy stops the server and removes its folder.
func (s *S3Proc) destroy() {
	if s.p != nil {
		s.p.stop(syscall.SIGTERM, 5*time.Second)
		s.p = nil
	}
	os.RemoveAll(filepath.Dir(s.Dir))
}

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cis490/cis490/internal/localsrv"
)

// S3 is an S3-compatible endpoint (path-style, plain HTTP) and a bucket
// of the test's own on it.
type S3 = localsrv.S3

// S3Proc is an S3 server of the test's own, for crash tests.
type S3Proc struct {
	S3
	t testing.TB
	s *localsrv.S3Proc
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
			shared.s3, shared.s3Err = localsrv.NewS3(bin, "")
		}
	}
	s, err := shared.s3, shared.s3Err
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("shared S3 server: %v", err)
	}
	c, err := s.NewBucket(nextName("b", t.Name()))
	if err != nil {
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
	s, err := localsrv.NewS3(bin, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Destroy)
	c, err := s.NewBucket(nextName("b", t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return &S3Proc{S3: c, t: t, s: s}
}

// Kill is kill -9 of the server.
func (s *S3Proc) Kill() { s.s.Kill() }

// Start starts the server again on the same port, folder and keys.
func (s *S3Proc) Start() {
	s.t.Helper()
	if err := s.s.Start(); err != nil {
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
		cmd := exec.Command("go", "build", "-modfile=tools/go.mod", "-buildvcs=false", "-o", bin, localsrv.VersityGWPackage)
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

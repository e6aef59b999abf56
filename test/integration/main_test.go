package integration

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/testenv"
	"github.com/cis490/cis490/internal/testseed"
)

// binPath is the cis490 binary TestMain builds once for the whole package.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cis490-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	code := func() int {
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "integration: build cis490:", err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	testenv.StopShared()
	os.Exit(code)
}

// build compiles ./cmd/cis490 from the module root into dir.
func build(dir string) (err error) {
	binPath, err = testenv.BuildCis490(dir)
	return err
}

// testSeed returns the -seed flag or a time-based seed, and logs it.
func testSeed(t *testing.T) int64 { return int64(testseed.Get(t)) }

// runCLI runs the cis490 binary and returns its stdout; it fails the test
// on a non-zero exit.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	return runCLIIn(t, "", nil, args...)
}

// runCLIIn is runCLI in the folder dir ("" for this one), with stdin.
func runCLIIn(t *testing.T, dir string, stdin []byte, args ...string) string {
	t.Helper()
	out, err := tryCLI(dir, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryCLI is runCLIIn for a command that may fail: its error carries both
// outputs.
func tryCLI(dir string, stdin []byte, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binPath, args...)
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = dir, bytes.NewReader(stdin), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cis490 %s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// startCLIIn starts a long-running cis490 command in dir, logging to
// logName there, and stops it at the end of the test.
func startCLIIn(t *testing.T, dir, logName string, args ...string) {
	t.Helper()
	startIn(t, dir, logName, binPath, args...)
}

// startIn is startCLIIn for any program.
func startIn(t *testing.T, dir, logName, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s:\n%s", logName, tailFile(filepath.Join(dir, logName), 30))
		}
	})
}

// eventually retries check every 100 ms until it returns "" or limit
// passes, then fails the test with its last complaint.
func eventually(t *testing.T, limit time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

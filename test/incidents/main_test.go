package incidents

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/testenv"
)

// binPath is the cis490 binary TestMain builds once for the whole package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cis490-incidents-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "incidents:", err)
		os.Exit(1)
	}
	code := func() int {
		if binPath, err = testenv.BuildCis490(dir); err != nil {
			fmt.Fprintln(os.Stderr, "incidents: build cis490:", err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fleetHealth runs `cis490 fleet-health` in dir with args. It fails the
// test unless the command exits 0: the detector exits 0 whenever it ran,
// whatever it found (1 only when it could not run).
func fleetHealth(t *testing.T, dir string, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binPath, append([]string{"fleet-health"}, args...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Fatalf("cis490 fleet-health %s exited %d; a detector that ran exits 0 whatever it found\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), exit.ExitCode(), stdout.String(), stderr.String())
	case err != nil:
		t.Fatalf("cis490 fleet-health %s: %v", strings.Join(args, " "), err)
	}
}

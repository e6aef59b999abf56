package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildCis490 compiles ./cmd/cis490 of the module the test runs in into
// dir and returns the binary's path: the packages that drive the real
// binary build it once, in TestMain.
func BuildCis490(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "cis490")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/cis490")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the folder of the cis490 module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the cis490 module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// Package testseed gives randomised tests one -seed flag: each test logs the
// seed it ran with and the command that replays it.
package testseed

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The flag belongs to the test binary that imports this package.
var seedFlag = flag.Uint64("seed", 0, "seed for the randomised tests (0: from the clock); every such test logs its seed")

// Get returns the -seed flag, or a seed from the clock, and logs how to
// replay the test with it.
func Get(t testing.TB) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test %s -run '^%s$' -seed=%d)", s, pkgDir(), t.Name(), s)
	return s
}

// pkgDir names the test's package as ./relative/path from the module root.
func pkgDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + strings.ReplaceAll(rel, string(filepath.Separator), "/")
		}
		if filepath.Dir(dir) == dir {
			return "."
		}
	}
}

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Machine describes where a benchmark runs: CPUs, CPU model, kernel and the
// file system type that holds dir.
func Machine(dir string) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + string(bytes.TrimSpace(b))
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s on %s, %s", runtime.NumCPU(), model, kernel, FSType(dir), dir, runtime.Version())
}

// FSType is the type of the file system dir is on, from /proc/mounts.
func FSType(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "?"
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return "?"
	}
	defer f.Close()
	best, typ := -1, "?"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 3 {
			continue
		}
		mnt := strings.ReplaceAll(fl[1], `\040`, " ")
		if (abs == mnt || strings.HasPrefix(abs, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) >= best {
			best, typ = len(mnt), fl[2]
		}
	}
	return typ
}

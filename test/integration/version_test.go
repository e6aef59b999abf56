package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// TestVersionCommand checks `cis490 version` names the code commit.
func TestVersionCommand(t *testing.T) {
	out, err := exec.Command(binPath, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("cis490 version: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "commit "); ok && strings.TrimSpace(rest) != "" {
			return
		}
	}
	t.Errorf("cis490 version printed no `commit ...` line:\n%s", out)
}

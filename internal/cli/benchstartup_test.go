package cli

import (
	"strings"
	"testing"
)

// bench startup checks its flags before it writes anything, and its
// builder is there for the child process it starts.
func TestBenchStartupUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"bench", "startup", "-h"}, 0, "--kill-appends", ""},
		{[]string{"bench", "startup", "--appends", "0,lots"}, 2, "", "--appends"},
		{[]string{"bench", "startup", "--size", "0"}, 2, "", "--size"},
		{[]string{"bench", "startup", "--kill-appends", "0"}, 2, "", "--kill-appends"},
		{[]string{"bench", "startup-build", "--data", "d", "--from", "yesterday"}, 2, "", "--from"},
	}
	for _, tt := range tests {
		code, out, errs := run(t, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q", tt.args, code, out, errs, tt.code, tt.out, tt.err)
		}
	}
}

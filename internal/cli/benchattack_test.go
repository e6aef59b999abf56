package cli

import (
	"strings"
	"testing"
)

// bench attack checks its flags before it starts anything, and its
// attacker child needs its files.
func TestBenchAttackUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"bench", "attack", "-h"}, 0, "--attack-duration", ""},
		{[]string{"bench", "attack", "--attacks", "unauth,nuke"}, 2, "", `"nuke"`},
		{[]string{"bench", "attack", "--size", "0"}, 2, "", "--size"},
		{[]string{"bench", "attack", "--attacker-nice", "20"}, 2, "", "--attacker-nice"},
		{[]string{"bench", "attack-run", "--spec", "s.json"}, 2, "", "--out"},
	}
	for _, tt := range tests {
		code, out, errs := run(t, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q", tt.args, code, out, errs, tt.code, tt.out, tt.err)
		}
	}
}

package cli

import (
	"strings"
	"testing"
	"time"
)

// TestDurationFlags: a duration flag reads what the config reads and, for
// a number without a unit, says what to write in one line.
func TestDurationFlags(t *testing.T) {
	hint := "write a number with a unit (ms, s, m, h or d), like 90s"
	for _, tc := range []struct {
		args []string
		err  string // substring of stderr; "" for none
	}{
		{[]string{"demo", "--duration", "5"}, `cis490 demo: --duration: "5" is a bare number without a unit; ` + hint},
		{[]string{"token", "create", "--ttl", "24"}, `--ttl: "24" is a bare number without a unit; ` + hint},
		{[]string{"logs", "lab-1", "--interval", "2"}, `--interval: "2" is a bare number without a unit`},
		{[]string{"demo", "--duration", "-5s"}, `--duration: "-5s" is negative`},
		{[]string{"demo", "--duration", "5 min"}, `--duration: "5 min" is not a duration; ` + hint},
	} {
		code, out, errs := run(t, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.err) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%q: exit %d, %q %q; want exit 2 and one line with %q", tc.args, code, out, errs, tc.err)
		}
	}
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "30d": 30 * 24 * time.Hour, "1h30m": 90 * time.Minute, "0": 0} {
		var d time.Duration
		if err := (durationFlag{&d}).Set(in); err != nil || d != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	// -h shows the flag as flag.Duration's would, with its default.
	if _, out, _ := run(t, "token", "create", "-h"); !strings.Contains(out, "  -ttl duration\n") || !strings.Contains(out, "(default 1d)") {
		t.Errorf("token create -h: %q; want -ttl shown as a duration with its default", out)
	}
	if _, out, _ := run(t, "demo", "-h"); !strings.Contains(out, "  -duration duration\n") || strings.Contains(out, "(default 0s)") {
		t.Errorf("demo -h: %q; want -duration shown as a duration, no zero default", out)
	}
}

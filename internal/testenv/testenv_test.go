package testenv

import (
	"fmt"
	"testing"
)

// recorder stands in for a test: it keeps what Skip and Fatal were told.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...) }

func TestRequire(t *testing.T) {
	missing := Tool("cis490-no-such-tool", "cis490-no-such-package")
	present := Tool("go", "golang")
	for _, tc := range []struct {
		ci            string
		needs         []Need
		skip, failure string
	}{
		{"", []Need{present}, "", ""},
		{"true", []Need{present}, "", ""},
		{"", []Need{present, missing}, "needs cis490-no-such-tool (apt-get install cis490-no-such-package)", ""},
		{"false", []Need{missing}, "needs cis490-no-such-tool (apt-get install cis490-no-such-package)", ""},
		{"true", []Need{missing, missing}, "",
			"needs cis490-no-such-tool (apt-get install cis490-no-such-package), cis490-no-such-tool (apt-get install cis490-no-such-package): CI must have it, so this test fails rather than skips"},
	} {
		t.Run(fmt.Sprintf("CI=%s/%d", tc.ci, len(tc.needs)), func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Require(r, tc.needs...)
			if r.skipped != tc.skip || r.failed != tc.failure {
				t.Fatalf("skipped %q, failed %q; want %q, %q", r.skipped, r.failed, tc.skip, tc.failure)
			}
		})
	}
}

package search

import (
	"regexp"
	"testing"
)

// TestRegexFoldsAsTheRegexp: with case folded, a regex matches what Go's
// regexp matches; its literal must not be looked for in ASCII case only,
// since "k" folds to the Kelvin sign and "s" to the long s.
func TestRegexFoldsAsTheRegexp(t *testing.T) {
	for _, tc := range []struct {
		q    Query
		line string
	}{
		{Query{Pattern: `x disk y`, Mode: Regex, IgnoreCase: true}, "x DIS\u212A y"},
		{Query{Pattern: `(?i)disk full`, Mode: Regex}, "DI\u017FK FULL"},
		{Query{Pattern: "ärger disk", IgnoreCase: true}, "ÄRGER DIS\u212A"},
	} {
		m, err := Compile(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		expr := tc.q.Pattern
		if tc.q.Mode != Regex {
			expr = regexp.QuoteMeta(expr)
		}
		if tc.q.IgnoreCase {
			expr = "(?i)" + expr
		}
		if !regexp.MustCompile(expr).MatchString(tc.line) {
			t.Fatalf("%q does not match %q", expr, tc.line)
		}
		if !m.Match([]byte(tc.line)) {
			t.Errorf("%+v does not match %q, which its regexp matches", tc.q, tc.line)
		}
	}
}

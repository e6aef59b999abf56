package human

import "testing"

func TestNearest(t *testing.T) {
	cmds := []string{"receiver", "ship", "status", "logs", "doctor", "ca", "token", "version"}
	for _, tc := range []struct{ word, want string }{
		{"stauts", "status"},    // transposition
		{"statsu", "status"},    // transposition at the end
		{"recever", "receiver"}, // a letter missing
		{"shipp", "ship"},       // a letter extra
		{"status", "status"},    // exact
		{"cq", "ca"},
		{"docker", "doctor"},
		{"frobnicate", ""}, // nothing close: no guess
		{"", ""},
	} {
		if got := Nearest(tc.word, cmds); got != tc.want {
			t.Errorf("Nearest(%q) = %q; want %q", tc.word, got, tc.want)
		}
	}
}

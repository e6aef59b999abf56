package human

import "testing"

func TestVisible(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text is left alone", "all 3 checks pass ✓ (é)", "all 3 checks pass ✓ (é)"},
		{"a window title escape is shown, not obeyed", "ok\x1b]0;pwned\x07", `ok^[]0;pwned^G`},
		{"clear screen", "\x1b[2Jdisk full", `^[[2Jdisk full`},
		{"a newline cannot forge a second line", "ok\nlab-2 resolved: fine", `ok^Jlab-2 resolved: fine`},
		{"carriage return, tab and DEL", "a\rb\tc\x7f", `a^Mb^Ic^?`},
		{"a C1 CSI", "\u009b31mred", `\u009b31mred`},
		{"a right-to-left override", "run \u202efdp.exe", `run \u202efdp.exe`},
		{"bytes that are not UTF-8", "\xff\xfeok", `\xff\xfeok`},
		{"a cut-off rune at the end", "abc\xe2\x9c", `abc\xe2\x9c`},
	}
	for _, tt := range tests {
		got := Visible(tt.in)
		if got != tt.want {
			t.Errorf("%s: Visible(%q) = %q; want %q", tt.name, tt.in, got, tt.want)
		}
		if again := Visible(got); again != got {
			t.Errorf("%s: Visible is not idempotent: %q then %q", tt.name, got, again)
		}
	}
}

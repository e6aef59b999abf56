package cli

import (
	"bytes"
	"testing"
)

func TestTermSafe(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"plain text and tabs pass", []string{"a\tb\nc é ✓\n"}, "a\tb\nc é ✓\n"},
		{"a title escape is shown, not obeyed", []string{"\x1b]0;pwned\x07\n"}, "^[]0;pwned^G\n"},
		{"clipboard OSC 52", []string{"\x1b]52;c;aGk=\x1b\\"}, `^[]52;c;aGk=^[\`},
		{"carriage return and DEL", []string{"ok\rFAIL\x7f\n"}, "ok^MFAIL^?\n"},
		{"a C1 CSI", []string{"\u009b31m red"}, `\u009b31m red`},
		{"invalid UTF-8", []string{"\xff\xfe\n"}, `\xff\xfe` + "\n"},
		{"a rune split across writes", []string{"caf\xc3", "\xa9\n"}, "café\n"},
		{"a C1 split across writes", []string{"x\xc2", "\x9b"}, `x\u009b`},
		{"output ends inside a rune", []string{"abc\xe2\x9c"}, `abc\xe2\x9c`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := &termSafe{w: &b}
		for _, c := range tt.chunks {
			if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tt.name, n, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%s: wrote %q; want %q", tt.name, b.String(), tt.want)
		}
	}
}

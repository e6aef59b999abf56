package cli

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// termSafe writes log bytes to a terminal with their control characters
// made visible (ESC as ^[, CR as ^M, C1 controls as \u009b), as cat -v and
// journalctl do: a host writes its own logs, and escape sequences could
// otherwise retitle the admin's window, rewrite lines on screen or set the
// clipboard. Newlines and tabs pass. A UTF-8 sequence split across writes
// is held until the rest arrives.
type termSafe struct {
	w    io.Writer
	held []byte // the start of a UTF-8 sequence the last write ended in
	buf  []byte
}

// Flush writes a UTF-8 sequence the output ended in the middle of, as
// \xNN: it will not be completed.
func (t *termSafe) Flush() error {
	var out []byte
	for _, c := range t.held {
		out = fmt.Appendf(out, `\x%02x`, c)
	}
	t.held = nil
	_, err := t.w.Write(out)
	return err
}

func (t *termSafe) Write(p []byte) (int, error) {
	in := p
	if len(t.held) > 0 {
		in = append(t.held, p...)
		t.held = nil
	}
	out := t.buf[:0]
	for len(in) > 0 {
		c := in[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f):
				out = append(out, c)
			case c == 0x7f:
				out = append(out, '^', '?')
			default:
				out = append(out, '^', c+'@')
			}
			in = in[1:]
			continue
		}
		if !utf8.FullRune(in) {
			t.held = append([]byte(nil), in...)
			break
		}
		r, n := utf8.DecodeRune(in)
		switch {
		case r == utf8.RuneError && n == 1:
			out = fmt.Appendf(out, `\x%02x`, c)
		case r >= 0x80 && r <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, in[:n]...)
		}
		in = in[n:]
	}
	t.buf = out
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

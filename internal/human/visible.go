package human

import (
	"fmt"
	"unicode/utf8"
)

// Visible is s made safe to show as one line — on a terminal, in syslog, in
// a chat message — with every control character shown rather than obeyed,
// as cat -v does: ESC as ^[, CR as ^M, a newline as ^J, DEL as ^?, a C1
// control or a bidirectional override as \u009b, a byte that is not UTF-8 as
// \xff. Hosts write doctor summaries, commits and instance ids themselves;
// shown raw, an escape sequence could retitle the admin's window, rewrite
// the screen or set the clipboard, a newline could forge a line of its own
// and an override could make a sentence read backwards. The result has no
// control character, so Visible(Visible(s)) == Visible(s).
func Visible(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			out, rest := AppendVisible(make([]byte, 0, len(s)+8), []byte(s), false)
			return string(AppendCut(out, rest))
		}
	}
	return s // plain ASCII, the usual case
}

// AppendVisible appends p to dst as Visible shows it, except that newlines
// and tabs pass when lines is set (a log read as lines). A UTF-8 sequence p
// ends in the middle of is not written but returned as rest: a stream
// completes it with its next bytes, or ends it with AppendCut.
func AppendVisible(dst, p []byte, lines bool) (out, rest []byte) {
	for len(p) > 0 {
		c := p[0]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c < 0x7f, lines && (c == '\n' || c == '\t'):
				dst = append(dst, c)
			case c == 0x7f:
				dst = append(dst, '^', '?')
			default:
				dst = append(dst, '^', c+'@')
			}
			p = p[1:]
			continue
		}
		if !utf8.FullRune(p) {
			return dst, p
		}
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			dst = fmt.Appendf(dst, `\x%02x`, c)
		case r >= 0x80 && r <= 0x9f, isBidiControl(r):
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = append(dst, p[:n]...)
		}
		p = p[n:]
	}
	return dst, nil
}

// AppendCut appends the start of a UTF-8 sequence that will not be
// completed (AppendVisible's rest at the end of a stream), as \xNN.
func AppendCut(dst, rest []byte) []byte {
	for _, c := range rest {
		dst = fmt.Appendf(dst, `\x%02x`, c)
	}
	return dst
}

// isBidiControl: the explicit embeddings, overrides and isolates, which
// reorder the text after them (the implicit marks only nudge neutrals).
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

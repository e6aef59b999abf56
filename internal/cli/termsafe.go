package cli

import (
	"io"

	"github.com/cis490/cis490/internal/human"
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
	out := human.AppendCut(nil, t.held)
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
	out, rest := human.AppendVisible(t.buf[:0], in, true)
	if len(rest) > 0 {
		t.held = append([]byte(nil), rest...)
	}
	t.buf = out
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

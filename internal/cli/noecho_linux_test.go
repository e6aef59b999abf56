package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the side a user types into (master) and
// the one a program reads as its terminal (tty).
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	// Through SyscallConn, not Fd, which would make master blocking and
	// its read deadline (how the test sees what was echoed) ineffective.
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if cerr := rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); cerr != nil || err != nil {
		t.Fatal(cerr, err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

// promptWatch is a Stderr that says when the prompt has been written. Its
// text is read only after readSecret has returned.
type promptWatch struct {
	buf   bytes.Buffer
	once  sync.Once
	asked chan struct{}
}

func (p *promptWatch) Write(b []byte) (int, error) {
	p.once.Do(func() { close(p.asked) })
	return p.buf.Write(b)
}

// TestEnrollTokenPrompt: on a terminal, enroll asks for the token and what
// is typed is not echoed, and the terminal echoes again afterwards, also
// after Ctrl-C; from a pipe it reads silently.
func TestEnrollTokenPrompt(t *testing.T) {
	const tok = "c490j_" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + "_bbbb"
	for _, tc := range []struct {
		name     string
		terminal bool
		cancel   bool // Ctrl-C instead of typing
	}{
		{"pipe", false, false},
		{"terminal", true, false},
		{"terminal, Ctrl-C", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr := &promptWatch{asked: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var in, typeInto *os.File
			if tc.terminal {
				typeInto, in = openPTY(t)
			} else {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				in, typeInto = r, w
			}
			type result struct {
				raw []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				raw, err := readSecret(ctx, &Env{Stdin: in, Stderr: stderr}, in)
				done <- result{raw, err}
			}()
			if tc.terminal {
				select { // type only once echo is off, as a user would
				case <-stderr.asked:
				case <-time.After(10 * time.Second):
					t.Fatal("no prompt on a terminal")
				}
			}
			if tc.cancel {
				cancel()
			} else {
				typeInto.Write([]byte(tok + "\n"))
				if !tc.terminal {
					typeInto.Close()
				}
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the token was not read")
			}
			switch {
			case tc.cancel && !errors.Is(r.err, context.Canceled):
				t.Errorf("after Ctrl-C: %q, %v; want context.Canceled", r.raw, r.err)
			case !tc.cancel && (r.err != nil || strings.TrimSpace(string(r.raw)) != tok):
				t.Errorf("read %q, %v; want the token", r.raw, r.err)
			}
			if !tc.terminal {
				if stderr.buf.String() != "" {
					t.Errorf("asked %q on a pipe; want silence", stderr.buf.String())
				}
				return
			}
			if !strings.Contains(stderr.buf.String(), "typing is not shown") {
				t.Errorf("prompt %q; want it to say the typing is not shown", stderr.buf.String())
			}
			// What the terminal showed the user: nothing of the token.
			typeInto.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			shown := make([]byte, 4096)
			n, _ := typeInto.Read(shown)
			if strings.Contains(string(shown[:n]), "c490j_") {
				t.Errorf("the terminal echoed the token: %q", shown[:n])
			}
			st, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
			if err != nil || st.Lflag&unix.ECHO == 0 {
				t.Errorf("echo not restored: %v, lflag %#x", err, st.Lflag)
			}
			if tc.cancel {
				// The abandoned read still waits for a line; end it, or
				// closing the terminal would wait for it.
				typeInto.Write([]byte("\n"))
			}
		})
	}
}

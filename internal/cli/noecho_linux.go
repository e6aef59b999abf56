package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// hideInput turns off echo on the terminal f, so that a secret typed there
// is not shown on screen (nor left in a screen recording or scrollback);
// line editing and Ctrl-C keep working. ok is false when f is not a
// terminal. restore puts the terminal back as it was.
func hideInput(f *os.File) (restore func(), ok bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, false // not a terminal: a pipe or a file, read as is
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, false
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, true
}

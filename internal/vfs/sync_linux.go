package vfs

import (
	"os"
	"syscall"
)

// fdatasync flushes data and the size, not the timestamps: cheaper than fsync
// for an append-only file.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

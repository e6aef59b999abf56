//go:build !linux

package vfs

// AsOwnerOf runs fn: only Linux receivers run admin commands as root.
func AsOwnerOf(dir string, fn func() error) error { return fn() }

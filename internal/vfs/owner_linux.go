package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// AsOwnerOf runs fn with the file-system rights of dir's owner when this
// runs as root and dir belongs to someone else: an admin command run by
// root changes files in the receiver's data_dir, where the receiver's user
// can plant a symlink (ca/issued.jsonl to a file of root's, or ca/ to a
// folder of root's). As that user, the command cannot write through it;
// what it makes is that user's, as the receiver needs. Only the effective
// ids change (the saved id stays root's, so fn's end restores root); the
// kernel then makes the process undumpable, and with its real id root's
// the user can neither ptrace nor signal it. The ids are per process (all threads), so fn must be the
// only work under way.
func AsOwnerOf(dir string, fn func() error) error {
	if os.Geteuid() != 0 {
		return fn()
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fn() // nothing there yet to protect: fn says what is missing
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return fn()
	}
	groups, err := syscall.Getgroups()
	if err != nil {
		return fmt.Errorf("read this process's groups: %w", err)
	}
	egid := os.Getegid()
	restore := func() error {
		return errors.Join(syscall.Setresuid(-1, 0, -1), syscall.Setresgid(-1, egid, -1), syscall.Setgroups(groups))
	}
	// Groups first: root's own groups must not open what the user's do not.
	if err := errors.Join(syscall.Setgroups([]int{int(st.Gid)}), syscall.Setresgid(-1, int(st.Gid), -1), syscall.Setresuid(-1, int(st.Uid), -1)); err != nil {
		return errors.Join(fmt.Errorf("act as %s's owner (uid %d): %w", dir, st.Uid, err), restore())
	}
	err = fn()
	if rerr := restore(); rerr != nil {
		return errors.Join(err, fmt.Errorf("act as root again: %w", rerr))
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (acting as uid %d, the owner of %s, this command will not follow a path there out of that user's reach: look for a symlink planted in %s)", err, st.Uid, dir, dir)
	}
	return err
}

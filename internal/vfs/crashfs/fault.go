package crashfs

import (
	"syscall"
)

// FailAfter arms a one-shot fault: the n-th mutating operation from now
// (n == 1 is the next one) fails with err, wrapped as os would wrap it
// (*fs.PathError, or *os.LinkError for Rename), so errors.Is(got, err) holds.
// The mutating operations are File.Write, File.WriteAt, File.Sync,
// File.Truncate, FS.Rename and FS.SyncDir; other operations neither count
// nor fail. A failing Write or WriteAt first writes a random prefix of its
// data (possibly none) and reports its length, like a short write; the other
// failing operations change nothing.
//
// A later FailAfter replaces an armed fault; n <= 0 disarms it. A nil err
// means syscall.EIO. Crash disarms any armed fault.
func (f *FS) FailAfter(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		f.failIn, f.failErr = 0, nil
		return
	}
	if err == nil {
		err = syscall.EIO
	}
	f.failIn, f.failErr = n, err
}

// fault counts one mutating operation and returns the injected error if it
// is the one that must fail. Callers hold f.mu and call it after validating
// their arguments, so an operation that fails anyway does not use it up.
func (f *FS) fault() error {
	if f.failIn == 0 {
		return nil
	}
	f.failIn--
	if f.failIn > 0 {
		return nil
	}
	err := f.failErr
	f.failErr = nil
	return err
}

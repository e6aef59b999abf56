package vfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileAtomicPerm: a real file gets exactly the mode asked for,
// whatever the umask: the shipper reads host.key through its group (0640)
// even when enroll runs under umask 077.
func TestWriteFileAtomicPerm(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "host.key")
	for _, data := range []string{"first", "second"} {
		if err := WriteFileAtomic(OS{}, p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o640 {
			t.Fatalf("mode %v, %v; want 0640 under umask 077", st.Mode().Perm(), err)
		}
		if b, _ := os.ReadFile(p); string(b) != data {
			t.Fatalf("contents %q; want %q", b, data)
		}
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("the temp file is left behind: %v", err)
	}
}

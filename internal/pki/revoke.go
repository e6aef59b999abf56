package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/vfs"
)

// Revocations is the list of certificate serials the receiver refuses
// (a host removed, a host re-enrolled), kept in a file written atomically
// and re-read when it changes, so a revocation takes effect at once.
type Revocations struct {
	path string

	mu      sync.Mutex
	serials map[string]bool
	modTime time.Time
	size    int64
	checked time.Time
}

// Revoked is one revoked certificate.
type Revoked struct {
	Serial string    `json:"serial"`
	Host   string    `json:"host"`
	At     time.Time `json:"at"`
	Why    string    `json:"why"`
}

type revokedFile struct {
	Revoked []Revoked `json:"revoked"`
}

// OpenRevocations reads the list at path (missing: none revoked). A list
// that exists but cannot be read is an error: starting without it would
// let every revoked certificate in again.
func OpenRevocations(path string) (*Revocations, error) {
	r := &Revocations{path: path}
	if err := r.reload(time.Now()); err != nil {
		return nil, fmt.Errorf("%w; restore it from a backup (it lists the revoked certificates)", err)
	}
	return r, nil
}

// reload reads the list when it changed; a broken file keeps the last good
// list (and is an error, which only OpenRevocations acts on).
func (r *Revocations) reload(now time.Time) error {
	r.checked = now
	st, err := os.Stat(r.path)
	if err != nil {
		if r.serials == nil {
			r.serials = map[string]bool{}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil // none revoked yet
		}
		return err
	}
	if r.serials != nil && st.ModTime().Equal(r.modTime) && st.Size() == r.size {
		return nil
	}
	f, err := readRevoked(r.path)
	if err != nil {
		return err
	}
	m := map[string]bool{}
	for _, x := range f.Revoked {
		m[x.Serial] = true
	}
	r.serials, r.modTime, r.size = m, st.ModTime(), st.Size()
	return nil
}

// Has reports whether c is revoked; the list is re-read at most every
// 200 ms when it changed.
func (r *Revocations) Has(c *x509.Certificate) bool {
	return c != nil && r.HasSerial(Serial(c))
}

// HasSerial reports whether the certificate with this serial is revoked.
func (r *Revocations) HasSerial(serial string) bool {
	if r == nil {
		return false
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.checked) > 200*time.Millisecond {
		_ = r.reload(now) // a broken file keeps the last good list
	}
	return r.serials[serial]
}

func readRevoked(path string) (revokedFile, error) {
	var f revokedFile
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s is not a revocation list: %w", path, err)
	}
	return f, nil
}

// ReadRevoked lists the entries of the revocation list at path; a
// missing list holds none.
func ReadRevoked(path string) ([]Revoked, error) {
	f, err := readRevoked(path)
	return f.Revoked, err
}

// Revoke adds serials to the list at path, under a lock: enrollments and
// `host remove` revoke at the same time.
func Revoke(path string, entries ...Revoked) error {
	unlock, err := Lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := readRevoked(path)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, x := range f.Revoked {
		have[x.Serial] = true
	}
	for _, e := range entries {
		if !have[e.Serial] {
			f.Revoked = append(f.Revoked, e)
			have[e.Serial] = true
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.OS{}, path, append(b, '\n'), 0o640)
}

// Issued is one certificate the CA signed, as its ledger keeps it, so a
// host's certificates can be revoked by serial.
type Issued struct {
	Serial   string    `json:"serial"`
	Kind     string    `json:"kind"` // host or admin
	Name     string    `json:"name"`
	NotAfter time.Time `json:"not_after"`
	At       time.Time `json:"at"`
}

// Record appends a certificate to the ledger at path (one JSON line each),
// synced.
func Record(path string, c Issued) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	unlock, err := Lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open the CA's ledger: %w", err)
	}
	// After a torn line (a crash mid-append), start on a line of its own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write the CA's ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// IssuedTo lists the ledger's certificates for name.
func IssuedTo(path, name string) ([]Issued, error) {
	all, err := Ledger(path)
	var out []Issued
	for _, c := range all {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out, err
}

// Ledger lists every certificate in the ledger at path, oldest first.
func Ledger(path string) ([]Issued, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Issued
	for _, line := range bytes.Split(b, []byte("\n")) {
		var c Issued
		if json.Unmarshal(line, &c) != nil {
			continue // a torn line (a crash mid-append) hides no other
		}
		out = append(out, c)
	}
	return out, nil
}

// Lock takes an exclusive lock beside path (path.lock) for a
// read-modify-write of path; the returned func releases it.
func Lock(path string) (func(), error) { return vfs.Lock(path+".lock", 0o640) }

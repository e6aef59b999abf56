package release

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"slices"
)

// Shelf is a receiver's releases as far as the release key vouches for
// them: the Store, read and written through the key's public half. Only a
// manifest that verifies is stored, offered to hosts or gated on, so an
// admin credential without the signing key (kept off the receiver) can
// neither lock the fleet out with a forged release nor make junk the
// latest one.
type Shelf struct {
	Store Store
	// Key is the release key's public half (release_key in receiver.toml).
	// Empty, the shelf vouches for nothing: it stores no upload and no
	// stored release counts.
	Key string
}

var (
	// ErrNoKey: the receiver has no release key to verify a release with.
	ErrNoKey = errors.New("the receiver has no release_key, so it verifies, stores and offers no release: set release_key in receiver.toml to the public key `cis490 release keygen` printed and restart the receiver")
	// ErrUnverified: what was stored or uploaded is not what the release
	// key signed for that version.
	ErrUnverified = errors.New("refused")
)

// maxManifest bounds a manifest read into memory to verify it: a real
// one is well under a KiB, an upload may be anything.
const maxManifest = 64 << 10

// Manifest reads version's stored manifest and verifies it: the manifest
// and its signed bytes as stored. The error matches fs.ErrNotExist when
// there is none, ErrNoKey or ErrUnverified when it does not count.
func (s Shelf) Manifest(version string) (*Manifest, []byte, error) {
	f, _, err := s.Store.Open(version, ManifestFile)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read the manifest of %s: %w", version, err)
	}
	m, err := s.verify(version, b)
	if err != nil {
		return nil, nil, err
	}
	return m, b, nil
}

func (s Shelf) verify(version string, b []byte) (*Manifest, error) {
	if s.Key == "" {
		return nil, ErrNoKey
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("the manifest of %s is larger than any signed manifest: %w", version, ErrUnverified)
	}
	m, err := Verify(s.Key, b)
	if errors.Is(err, ErrSignature) {
		return nil, fmt.Errorf("the manifest of %s is not signed by the key whose public half is release_key in receiver.toml: %w", version, ErrUnverified)
	}
	if err != nil {
		return nil, fmt.Errorf("the manifest of %s does not verify (%v): %w", version, err, ErrUnverified)
	}
	if m.Version != version {
		return nil, fmt.Errorf("the manifest uploaded as %s is signed for version %s: %w", version, m.Version, ErrUnverified)
	}
	return m, nil
}

// Verified lists the stored releases the key vouches for, oldest first.
// Each stored manifest that does not count is told to skipped (when not
// nil) and left out, never an error: a data folder may hold releases
// uploaded before the receiver verified them, and they must not stop it.
func (s Shelf) Verified(skipped func(version string, err error)) ([]*Manifest, error) {
	versions, err := s.newestFirst()
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, v := range slices.Backward(versions) {
		m, _, err := s.Manifest(v)
		if err != nil {
			if skipped != nil {
				skipped(v, err)
			}
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Latest is the newest stored release the key vouches for and its signed
// manifest's bytes; an error matching fs.ErrNotExist when there is none,
// ErrNoKey without a key. A newer manifest that does not verify is passed
// over: hosts are offered the newest release they can install.
func (s Shelf) Latest() (*Manifest, []byte, error) {
	if s.Key == "" {
		return nil, nil, ErrNoKey
	}
	versions, err := s.newestFirst()
	if err != nil {
		return nil, nil, err
	}
	for _, v := range versions {
		m, b, err := s.Manifest(v)
		if errors.Is(err, ErrUnverified) || errors.Is(err, fs.ErrNotExist) {
			continue // not a release, or removed since it was listed
		}
		return m, b, err
	}
	return nil, nil, fs.ErrNotExist
}

func (s Shelf) newestFirst() ([]string, error) {
	versions, err := s.Store.Versions()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing was ever published
	}
	if err != nil {
		return nil, fmt.Errorf("list the releases: %w", err)
	}
	slices.SortFunc(versions, func(a, b string) int {
		switch {
		case Newer(a, b):
			return -1
		case Newer(b, a):
			return 1
		}
		return 0
	})
	return versions, nil
}

// Put stores one uploaded file of a release the key vouches for: a
// manifest only when it verifies for version; an artifact of a version
// whose verified manifest is stored only when it is the one that manifest
// signed (so a published release's binaries cannot be swapped for junk
// hosts would refuse), any other artifact as it comes (release publish
// uploads the binaries before the manifest). Refused, it stores nothing;
// the error matches ErrNoKey or ErrUnverified, or is r's.
func (s Shelf) Put(version, file string, r io.Reader) error {
	if s.Key == "" {
		return ErrNoKey
	}
	if file == ManifestFile {
		b, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
		if err != nil {
			return fmt.Errorf("read the manifest: %w", err)
		}
		if _, err := s.verify(version, b); err != nil {
			return err
		}
		return s.Store.Put(version, file, bytes.NewReader(b))
	}
	m, _, err := s.Manifest(version)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrUnverified):
		return s.Store.Put(version, file, r) // not published yet
	case err != nil:
		return err
	}
	for _, a := range m.Artifacts {
		if a.File == file {
			return s.Store.Put(version, file, &matching{r: r, art: a, version: version, h: sha256.New()})
		}
	}
	return fmt.Errorf("%s is published and its signed manifest names no %s: %w", version, file, ErrUnverified)
}

// matching passes an upload through and fails at its end (or once it is
// too long) unless it is the artifact's signed bytes, so Store.Put keeps
// nothing of another binary.
type matching struct {
	r       io.Reader
	art     Artifact
	version string
	h       hash.Hash
	n       int64
}

func (m *matching) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.h.Write(p[:n])
	m.n += int64(n)
	if m.n > m.art.Size || err == io.EOF && m.art.Matches(m.n, m.h.Sum(nil)) != nil {
		return n, fmt.Errorf("%s is published with another %s (signed sha256 %s); release other binaries as a new version: %w", m.version, m.art.File, m.art.SHA256, ErrUnverified)
	}
	return n, err
}

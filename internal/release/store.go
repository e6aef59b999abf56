package release

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cis490/cis490/internal/vfs"
)

// Store keeps the releases admins published to a receiver: per version,
// the signed manifest and the artifacts. It verifies nothing: Shelf does,
// with the release key's public half, and hosts verify again. Folder keeps
// them under data_dir; package pgs3 in a shared database and bucket, so
// that every receiver serves and gates on the same releases.
type Store interface {
	// Versions lists the published versions, in no order: those with a
	// manifest, since a release exists once its manifest is stored.
	Versions() ([]string, error)
	// Open reads one file of a release and tells its size; an error
	// matching fs.ErrNotExist when there is none.
	Open(version, file string) (io.ReadCloser, int64, error)
	// Put stores one file of a release from r, replacing any earlier one
	// whole: a reader never sees part of a file. An error r returns is
	// returned (wrapped or not) and nothing is stored.
	Put(version, file string, r io.Reader) error
}

// Folder is Store in dir, one folder per version: <version>/<file>, as
// every receiver has kept data_dir's releases.
func Folder(dir string) Store { return folder(dir) }

type folder string

func (d folder) Versions() ([]string, error) {
	ents, err := os.ReadDir(string(d))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		v := e.Name()
		if !ValidVersion(v) {
			continue
		}
		if _, err := os.Stat(filepath.Join(string(d), v, ManifestFile)); err != nil {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func (d folder) Open(version, file string) (io.ReadCloser, int64, error) {
	if !ValidVersion(version) || !ValidFile(file) {
		return nil, 0, fs.ErrNotExist
	}
	f, err := os.Open(filepath.Join(string(d), version, file))
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil // an *os.File: served without a copy in memory
}

// Put streams r to a temporary file, syncs it and renames it into place
// (a binary does not fit in memory, and a crash leaves the old file or
// the new one).
func (d folder) Put(version, file string, r io.Reader) error {
	if !ValidVersion(version) || !ValidFile(file) {
		return errors.New("not a release file")
	}
	dir := filepath.Join(string(d), version)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+file+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, file)); err != nil {
		return err
	}
	return vfs.OS{}.SyncDir(dir)
}

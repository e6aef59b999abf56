package pki

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cis490/cis490/internal/vfs"
)

// SwapPair replaces a key and certificate so that no reader, and no
// crash, is left with a key and a certificate that do not pair. Both new
// files are first written in full beside the old (.next), then renamed
// key first; a crash between the renames is finished by CompletePair,
// which every loader that may write calls first (LoadPair for those that
// may not). Hold Lock(keyPath) around it.
//
// The key is written 0640: its folder decides who else reads it (on a lab
// host /etc/cis490 is setgid to the shipper's group, so each new key is
// readable by the unprivileged shipper and by nobody else).
func SwapPair(certPath, keyPath string, certPEM, keyPEM []byte) error {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("the new key and certificate do not pair: %w", err)
	}
	if err := writeSynced(keyPath+".next", keyPEM, 0o640); err != nil {
		return err
	}
	if err := writeSynced(certPath+".next", certPEM, 0o644); err != nil {
		return err
	}
	if err := os.Rename(keyPath+".next", keyPath); err != nil {
		return err
	}
	return CompletePair(certPath, keyPath)
}

// CompletePair finishes a swap a crash interrupted: a new certificate
// still waiting beside the key it pairs with takes its place.
func CompletePair(certPath, keyPath string) error {
	next := certPath + ".next"
	certPEM, err := os.ReadFile(next)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return os.Remove(next) // the key was never swapped: the old pair stands
	}
	if err := os.Rename(next, certPath); err != nil {
		return err
	}
	return vfs.OS{}.SyncDir(filepath.Dir(certPath))
}

// LoadPair loads the key and certificate as CompletePair would leave
// them, without writing: a reader that may not rename in the folder (the
// unprivileged shipper) still gets a pair that matches after a renewal a
// crash interrupted.
func LoadPair(certPath, keyPath string) (tls.Certificate, error) {
	if next, err := os.ReadFile(certPath + ".next"); err == nil {
		if keyPEM, err := os.ReadFile(keyPath); err == nil {
			if pair, err := tls.X509KeyPair(next, keyPEM); err == nil {
				return pair, nil
			}
		}
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

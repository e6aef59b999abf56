package fleethealth

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/vfs"
)

// Removals are the hosts `cis490 host remove` took out of the fleet: the
// detector no longer watches them (their refused requests are not a sick
// host) until they enroll again. RemovedFile keeps them under data_dir;
// package pgs3 in a shared database.
type Removals interface {
	// Removed returns the removed hosts and when.
	Removed() (map[string]time.Time, error)
	// Mark stops watching host, as removed at at.
	Mark(host string, at time.Time) error
	// Clear (on enrollment) watches host again.
	Clear(host string) error
}

// RemovedFile is Removals in data_dir's removed-hosts.json, as every
// receiver has kept them.
func RemovedFile(data datadir.Dir) Removals { return removedFile(data.Removed()) }

type removedFile string

// Removed reads the file; a missing or unreadable one removes no host.
func (p removedFile) Removed() (map[string]time.Time, error) {
	m := map[string]time.Time{}
	b, err := os.ReadFile(string(p))
	if err != nil {
		return m, nil
	}
	json.Unmarshal(b, &m)
	return m, nil
}

func (p removedFile) Mark(host string, at time.Time) error { return p.set(host, at) }

func (p removedFile) Clear(host string) error { return p.set(host, time.Time{}) }

// set marks host removed at at, or (at zero) not removed, under the
// file's lock: the receiver and `cis490 host remove` both change it.
func (p removedFile) set(host string, at time.Time) error {
	unlock, err := pki.Lock(string(p))
	if err != nil {
		return err
	}
	defer unlock()
	m, _ := p.Removed()
	if _, err := os.Stat(string(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if at.IsZero() {
		if _, ok := m[host]; !ok {
			return nil
		}
		delete(m, host)
	} else {
		m[host] = at.UTC()
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.OS{}, string(p), append(b, '\n'), 0o640)
}

// forgetRemoved drops the removed hosts from the tracker and their
// symptoms' tracks, so nothing about them fires or resolves. Unread, none
// is forgotten this time.
func forgetRemoved(removed Removals, hosts map[string]*Host, tracks map[string]*Track) {
	m, _ := removed.Removed()
	for host := range m {
		delete(hosts, host)
		for k, t := range tracks {
			if t.Host == host {
				delete(tracks, k)
			}
		}
	}
}

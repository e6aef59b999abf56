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

// removedPath lists the hosts `cis490 host remove` took out of the fleet:
// the detector no longer watches them (their refused requests are not a
// sick host) until they enroll again.
func removedPath(data string) string { return datadir.Dir(data).Removed() }

// Removed returns the removed hosts and when.
func Removed(data string) map[string]time.Time {
	m := map[string]time.Time{}
	b, err := os.ReadFile(removedPath(data))
	if err != nil {
		return m
	}
	json.Unmarshal(b, &m)
	return m
}

// MarkRemoved stops watching host; ClearRemoved (on enrollment) watches it
// again.
func MarkRemoved(data, host string, at time.Time) error { return setRemoved(data, host, at) }

// ClearRemoved watches host again.
func ClearRemoved(data, host string) error { return setRemoved(data, host, time.Time{}) }

func setRemoved(data, host string, at time.Time) error {
	unlock, err := pki.Lock(removedPath(data))
	if err != nil {
		return err
	}
	defer unlock()
	m := Removed(data)
	if _, err := os.Stat(removedPath(data)); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
	return vfs.WriteFileAtomic(vfs.OS{}, removedPath(data), append(b, '\n'), 0o640)
}

// forgetRemoved drops the removed hosts from the tracker and their
// symptoms' tracks, so nothing about them fires or resolves.
func forgetRemoved(data string, hosts map[string]*Host, tracks map[string]*Track) {
	for host := range Removed(data) {
		delete(hosts, host)
		for k, t := range tracks {
			if t.Host == host {
				delete(tracks, k)
			}
		}
	}
}

// Package hosthealth keeps the hosts' doctor snapshots on the receiver,
// behind Store — locally (Folder) one file per host,
// <data_dir>/host-health/<host>.json, replaced whole and stamped with when
// it arrived — and reads them back for the receiver's API, as stored, and
// for the detector and the dashboard, which read the same fields of the
// doctor's JSON through Parse.
package hosthealth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/vfs"
)

// MaxSize is the largest snapshot a host may send, and all that is read
// of one.
const MaxSize = 256 << 10

// Snapshot is one host's latest snapshot as stored (GET /v1/host-health
// returns it as is).
type Snapshot struct {
	Host       string          `json:"host"`
	ReceivedAt time.Time       `json:"received_at"`
	Snapshot   json.RawMessage `json:"snapshot"`
}

// Report is what the receiver's readers take from a doctor report (the
// doctor's JSON, schema 1; internal/doctor writes it and its tests keep
// the two in step).
type Report struct {
	Host    string    `json:"host"`
	Version string    `json:"version"`
	Commit  string    `json:"commit"`
	At      time.Time `json:"at"`
	// OK is the report's verdict; Parse takes a report without one as OK
	// when no check failed.
	OK      bool    `json:"ok"`
	Summary string  `json:"summary"`
	Checks  []Check `json:"checks"`
	Facts   struct {
		Kernel       string   `json:"kernel"`
		ClockOffsetS *float64 `json:"clock_offset_s"`
		DiskFree     int64    `json:"disk_free_bytes"`
	} `json:"facts"`
}

// Check is one of a report's checks.
type Check struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // "ok", "warn", "fail", "skip"
	Finding string `json:"finding"`
	Fix     string `json:"fix"`
}

// Failing lists the checks that failed.
func (r *Report) Failing() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == "fail" {
			out = append(out, c)
		}
	}
	return out
}

// Parse reads a doctor report. Its verdict (ok, summary, checks) must
// parse; the rest (host, version, commit, at, facts) is read field by
// field, and a field of the wrong type is left out rather than costing
// the verdict: a failing report must never read as a healthy one.
func Parse(b []byte) (*Report, error) {
	var v struct {
		OK      *bool   `json:"ok"`
		Summary string  `json:"summary"`
		Checks  []Check `json:"checks"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("not a doctor report: %w", err)
	}
	rep := &Report{Summary: v.Summary, Checks: v.Checks}
	rep.OK = len(rep.Failing()) == 0
	if v.OK != nil {
		rep.OK = *v.OK
	}
	var top, facts map[string]json.RawMessage
	json.Unmarshal(b, &top)              // an object: the verdict parsed
	json.Unmarshal(top["facts"], &facts) // not an object: no facts
	lenient(top["host"], &rep.Host)
	lenient(top["version"], &rep.Version)
	lenient(top["commit"], &rep.Commit)
	lenient(top["at"], &rep.At)
	lenient(facts["kernel"], &rep.Facts.Kernel)
	lenient(facts["clock_offset_s"], &rep.Facts.ClockOffsetS)
	lenient(facts["disk_free_bytes"], &rep.Facts.DiskFree)
	return rep, nil
}

// lenient decodes raw into v, leaving v as it was if raw is missing or of
// another type.
func lenient[T any](raw json.RawMessage, v *T) {
	if len(raw) == 0 {
		return
	}
	var x T
	if json.Unmarshal(raw, &x) == nil {
		*v = x
	}
}

// Store keeps each host's latest doctor snapshot. Folder keeps them under
// data_dir; package pgs3 keeps them in a shared database, so that any
// receiver answers for any host.
type Store interface {
	// Write replaces host's snapshot with data, stamped as received at
	// at; a reader sees the old snapshot or the new, never a mix.
	Write(host string, data []byte, at time.Time) error
	// Read reads one host's snapshot; a missing one (or an invalid host
	// name) is an error wrapping fs.ErrNotExist.
	Read(host string) (*Snapshot, error)
	// List names the stored snapshots, by host, without reading them.
	List() ([]Entry, error)
	// ReadAll reads every host's snapshot, by host.
	ReadAll() ([]Snapshot, error)
}

// Folder is Store in a folder of files, one per host, as every receiver
// has kept them: <data_dir>/host-health.
type Folder string

// Entry is a stored snapshot, before it is read.
type Entry struct {
	Host       string
	ReceivedAt time.Time
}

// List names the stored snapshots, by host; a missing folder holds none.
// Temp files and names that are not hosts' are left out.
func (d Folder) List() ([]Entry, error) {
	dir := string(d)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		host, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if _, err := names.Host(host); err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, Entry{Host: host, ReceivedAt: info.ModTime().UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// Read reads one host's snapshot, at most MaxSize+1 bytes of it (one
// more than a host may send, so a file grown too big fails to parse
// rather than passing cut); an invalid host name reads as a missing
// snapshot.
func (d Folder) Read(host string) (*Snapshot, error) {
	dir := string(d)
	if _, err := names.Host(host); err != nil {
		return nil, fs.ErrNotExist
	}
	f, err := os.Open(filepath.Join(dir, host+".json"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return &Snapshot{Host: host, ReceivedAt: info.ModTime().UTC(), Snapshot: json.RawMessage(b)}, nil
}

// ReadAll reads every host's snapshot, by host.
func (d Folder) ReadAll() ([]Snapshot, error) {
	ents, err := d.List()
	if err != nil {
		return nil, err
	}
	out := []Snapshot{}
	for _, e := range ents {
		if snap, err := d.Read(e.Host); err == nil { // else removed meanwhile
			out = append(out, *snap)
		}
	}
	return out, nil
}

// Write replaces host's snapshot with data, stamped as received at at, so
// that a reader (or a crash) sees the old file or the new, never a torn
// or mixed one: a temp file of its own (concurrent writers do not share
// one, which vfs.WriteFileAtomic's fixed temp name would), fsync, the
// arrival time as its mtime, rename, fsync of the folder.
func (d Folder) Write(host string, data []byte, at time.Time) error {
	dir := string(d)
	if _, err := names.Host(host); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil { // Prepare made it, unless removed since
		return err
	}
	f, err := os.CreateTemp(dir, "."+host+".json.*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp, at, at); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, host+".json")); err != nil {
		return err
	}
	ok = true
	return vfs.OS{}.SyncDir(dir)
}

// Prepare makes the folder (durably: its parent is synced) before the
// first snapshot is acknowledged, and removes the temp files a crash
// left in it.
func (d Folder) Prepare() error {
	dir := string(d)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		if err := (vfs.OS{}).SyncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

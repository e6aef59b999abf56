package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/vfs"
)

// HostHealthDir holds each host's latest doctor snapshot, <host>.json.
const HostHealthDir = "host-health"

// MaxSnapshot is the largest doctor snapshot a host may send.
const MaxSnapshot = 256 << 10

// Snapshot is one host's latest doctor snapshot as GET /v1/host-health
// returns it.
type Snapshot struct {
	Host       string          `json:"host"`
	ReceivedAt time.Time       `json:"received_at"`
	Snapshot   json.RawMessage `json:"snapshot"`
}

// putHostHealth stores a host's doctor snapshot. It is never behind the
// version gate: a host running stale code must still be able to say so.
func (s *Server) putHostHealth(r *http.Request, rt route, p principal, rec *reqState) (*response, *apiError) {
	if err := requireHost(p, rt.host); err != nil {
		return nil, err
	}
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, reason: "too-large",
		msg: fmt.Sprintf("a doctor snapshot may be at most %d bytes; trim it", MaxSnapshot)}
	if r.ContentLength > MaxSnapshot {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSnapshot+1))
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, reason: "body", msg: "the snapshot could not be read in full; send it again"}
	}
	if len(body) > MaxSnapshot {
		return nil, tooLarge
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return nil, &apiError{status: http.StatusBadRequest, reason: "bad-json",
			msg: "a doctor snapshot is one JSON object, as `cis490 doctor --json` prints it"}
	}
	rec.line.Bytes = int64(len(body))
	now := s.opt.Now().UTC()
	if err := writeAtomic(s.opt.HostHealthDir, rt.host+".json", body, now); err != nil {
		s.log.Error("store a doctor snapshot", "host", rt.host, "err", err)
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: "storage", retryAfter: 60,
			msg: "the receiver cannot store the snapshot right now; retry later"}
	}
	return jsonResponse(http.StatusOK, map[string]any{"host": rt.host, "received_at": now.Format(time.RFC3339Nano), "bytes": len(body)}), nil
}

// getHostHealth answers an admin with every host's latest snapshot, or
// one host's.
func (s *Server) getHostHealth(rt route, p principal) (*response, *apiError) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if rt.host != "" {
		snap, err := ReadSnapshot(s.opt.HostHealthDir, rt.host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &apiError{status: http.StatusNotFound, reason: "no-snapshot",
				msg: fmt.Sprintf("host %s has sent no doctor snapshot; its cis490-doctor-check.timer runs daily", rt.host)}
		}
		if err != nil {
			return nil, &apiError{status: http.StatusServiceUnavailable, reason: "storage", retryAfter: 30, msg: "the snapshot cannot be read right now; retry later"}
		}
		return jsonResponse(http.StatusOK, snap), nil
	}
	all, err := ReadSnapshots(s.opt.HostHealthDir)
	if err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: "storage", retryAfter: 30, msg: "the snapshots cannot be read right now; retry later"}
	}
	return jsonResponse(http.StatusOK, map[string]any{"hosts": all}), nil
}

// ReadSnapshot reads one host's snapshot; received_at is when it was
// stored.
func ReadSnapshot(dir, host string) (*Snapshot, error) {
	if _, err := names.Host(host); err != nil {
		return nil, fs.ErrNotExist
	}
	p := filepath.Join(dir, host+".json")
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSnapshot+1))
	if err != nil {
		return nil, err
	}
	return &Snapshot{Host: host, ReceivedAt: info.ModTime().UTC(), Snapshot: json.RawMessage(b)}, nil
}

// ReadSnapshots reads every host's snapshot, by host name.
func ReadSnapshots(dir string) ([]Snapshot, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Snapshot{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Snapshot{}
	for _, e := range ents {
		host, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		snap, err := ReadSnapshot(dir, host)
		if err != nil {
			continue // removed meanwhile, or not a host's name
		}
		out = append(out, *snap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// writeAtomic replaces dir/name with data so that a reader (or a crash)
// sees the old file or the new, never a torn or mixed one: a temp file of
// its own (concurrent writers do not share one), fsync, rename, fsync of
// the folder. The file's modification time is set to at.
func writeAtomic(dir, name string, data []byte, at time.Time) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
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
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	ok = true
	return vfs.OS{}.SyncDir(dir)
}

// ensureDir creates dir, if need be, and syncs its parent so the new
// entry survives a power loss.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// cleanTemps removes temp files a crash left in dir.
func cleanTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

package receiver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

// maxArtifact bounds an uploaded file.
const maxArtifact = 256 << 20

// releases serves /v1/releases: admins upload a release already signed
// elsewhere (the signing key is not on the receiver); hosts fetch the
// latest manifest and the artifacts. Never behind the version gate: a host
// running stale code must be able to fetch the fix.
func (s *Server) releases(r *http.Request, rt route, p principal) (*response, *apiError) {
	dir := s.opt.ReleasesDir
	if dir == "" {
		return nil, notFound()
	}
	switch {
	case r.Method == http.MethodGet && rt.version == "latest":
		v, err := latestRelease(dir)
		if err != nil {
			return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoRelease, msg: "no release has been published; publish one with `cis490 release publish`"}
		}
		return serveFile(filepath.Join(dir, v, release.ManifestFile))
	case r.Method == http.MethodGet && rt.file != "":
		return serveFile(filepath.Join(dir, rt.version, rt.file))
	case r.Method == http.MethodPut && rt.file != "":
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
		if err := storeArtifact(filepath.Join(dir, rt.version), rt.file, r.Body); err != nil {
			if errors.Is(err, errTooBig) {
				return nil, &apiError{status: http.StatusRequestEntityTooLarge, reason: wire.ReasonTooLarge, msg: fmt.Sprintf("a release file may be at most %d bytes", maxArtifact)}
			}
			s.log.Error("store a release file", "version", rt.version, "file", rt.file, "err", err)
			return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the receiver cannot store the release right now; retry later"}
		}
		if rt.file == release.ManifestFile && s.opt.Published != nil {
			s.opt.Published()
		}
		return jsonResponse(http.StatusCreated, map[string]any{"version": rt.version, "file": rt.file}), nil
	}
	return nil, &apiError{status: http.StatusMethodNotAllowed, reason: wire.ReasonMethod, msg: "releases: GET /v1/releases/latest, GET or PUT /v1/releases/VERSION/FILE"}
}

var errTooBig = errors.New("too big")

// serveFile streams a release file (binaries are tens of MiB; a small
// receiver must not hold one in memory per downloading host).
func serveFile(p string) (*response, *apiError) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoRelease, msg: "no such release file"}
	}
	var st fs.FileInfo
	if err == nil {
		if st, err = f.Stat(); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the release cannot be read right now; retry later"}
	}
	return &response{status: http.StatusOK, file: f, size: st.Size(), ctype: "application/octet-stream"}, nil
}

// storeArtifact writes body to dir/name atomically, streaming it (a binary
// does not fit the request body budget).
func storeArtifact(dir, name string, body io.Reader) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	n, err := io.Copy(f, io.LimitReader(body, maxArtifact+1))
	if err == nil && n > maxArtifact {
		err = errTooBig
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return vfs.OS{}.SyncDir(dir)
}

// latestRelease is the newest version with a manifest.
func latestRelease(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	best := ""
	for _, e := range ents {
		v := e.Name()
		if !release.ValidVersion(v) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, v, release.ManifestFile)); err != nil {
			continue
		}
		if best == "" || release.Newer(v, best) {
			best = v
		}
	}
	if best == "" {
		return "", fs.ErrNotExist
	}
	return best, nil
}

package receiver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/wire"
)

// maxArtifact bounds an uploaded file.
const maxArtifact = 256 << 20

// releases serves /v1/releases: admins upload a release already signed
// elsewhere (the signing key is not on the receiver); hosts fetch the
// latest manifest and the artifacts. Never behind the version gate: a host
// running stale code must be able to fetch the fix.
func (s *Server) releases(r *http.Request, rt route, p principal) (*response, *apiError) {
	rel := s.opt.Releases
	if rel == nil {
		return nil, notFound()
	}
	switch {
	case r.Method == http.MethodGet && rt.version == "latest":
		v, err := latestRelease(rel)
		if err != nil {
			return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoRelease, msg: "no release has been published; publish one with `cis490 release publish`"}
		}
		return serveFile(rel, v, release.ManifestFile)
	case r.Method == http.MethodGet && rt.file != "":
		return serveFile(rel, rt.version, rt.file)
	case r.Method == http.MethodPut && rt.file != "":
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
		if err := rel.Put(rt.version, rt.file, &capped{r: r.Body, left: maxArtifact}); err != nil {
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

// capped fails with errTooBig once more than left bytes were read, so the
// store keeps nothing of an oversized upload (a binary does not fit the
// request body budget, so it is streamed, not read whole first).
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errTooBig
	}
	return n, err
}

// serveFile streams a release file (binaries are tens of MiB; a small
// receiver must not hold one in memory per downloading host).
func serveFile(rel release.Store, version, file string) (*response, *apiError) {
	f, size, err := rel.Open(version, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoRelease, msg: "no such release file"}
	}
	if err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the release cannot be read right now; retry later"}
	}
	return &response{status: http.StatusOK, file: f, size: size, ctype: "application/octet-stream"}, nil
}

// latestRelease is the newest version with a manifest.
func latestRelease(rel release.Store) (string, error) {
	vs, err := rel.Versions()
	if err != nil {
		return "", err
	}
	best := ""
	for _, v := range vs {
		if best == "" || release.Newer(v, best) {
			best = v
		}
	}
	if best == "" {
		return "", fs.ErrNotExist
	}
	return best, nil
}

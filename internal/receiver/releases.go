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
// elsewhere (the signing key is not on the receiver, only its public half
// to verify with); hosts fetch the latest verified manifest and the
// artifacts. Never behind the version gate: a host running stale code
// must be able to fetch the fix.
func (s *Server) releases(r *http.Request, rt route, p principal) (*response, *apiError) {
	rel := s.opt.Releases
	if rel == nil {
		return nil, notFound()
	}
	switch {
	case r.Method == http.MethodGet && rt.version == "latest":
		_, b, err := rel.Latest()
		return serveManifest(b, err, "no release that release_key verifies has been published; publish one signed with the release key with `cis490 release publish`")
	case r.Method == http.MethodGet && rt.file == release.ManifestFile:
		_, b, err := rel.Manifest(rt.version)
		return serveManifest(b, err, "no such release file")
	case r.Method == http.MethodGet && rt.file != "":
		return serveFile(rel.Store, rt.version, rt.file)
	case r.Method == http.MethodPut && rt.file != "":
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
		if err := rel.Put(rt.version, rt.file, &capped{r: r.Body, left: maxArtifact}); err != nil {
			return nil, s.refusedRelease(rt, err)
		}
		if rt.file == release.ManifestFile && s.opt.Published != nil {
			s.opt.Published()
		}
		return jsonResponse(http.StatusCreated, map[string]any{"version": rt.version, "file": rt.file}), nil
	}
	return nil, &apiError{status: http.StatusMethodNotAllowed, reason: wire.ReasonMethod, msg: "releases: GET /v1/releases/latest, GET or PUT /v1/releases/VERSION/FILE"}
}

// refusedRelease answers an upload that was not stored.
func (s *Server) refusedRelease(rt route, err error) *apiError {
	switch {
	case errors.Is(err, errTooBig):
		return &apiError{status: http.StatusRequestEntityTooLarge, reason: wire.ReasonTooLarge, msg: fmt.Sprintf("a release file may be at most %d bytes", maxArtifact)}
	case errors.Is(err, release.ErrNoKey):
		return &apiError{status: http.StatusForbidden, reason: wire.ReasonNoReleaseKey, msg: err.Error()}
	case errors.Is(err, release.ErrUnverified):
		return &apiError{status: http.StatusUnprocessableEntity, reason: wire.ReasonBadSignature, msg: err.Error() + ", nothing stored"}
	}
	s.log.Error("store a release file", "version", rt.version, "file", rt.file, "err", err)
	return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the receiver cannot store the release right now; retry later"}
}

// serveManifest answers with a verified manifest's bytes; one that does
// not verify is not there for hosts (they would refuse it anyway).
func serveManifest(b []byte, err error, missing string) (*response, *apiError) {
	switch {
	case errors.Is(err, release.ErrNoKey):
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoRelease, msg: "the receiver offers no release: it has no release_key in receiver.toml to verify one with"}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, release.ErrUnverified):
		return nil, &apiError{status: http.StatusNotFound, reason: wire.ReasonNoRelease, msg: missing}
	case err != nil:
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonStorage, retryAfter: 30, msg: "the release cannot be read right now; retry later"}
	}
	return &response{status: http.StatusOK, raw: b, ctype: "application/octet-stream"}, nil
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

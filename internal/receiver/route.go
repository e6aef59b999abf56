package receiver

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/wire"
)

// Endpoint classes, as written to the index.
const (
	EPLogs       = "logs"
	EPHeartbeat  = "heartbeat"
	EPHostHealth = "host-health"
	EPFleet      = "fleet"
	EPEnroll     = "enroll"
	EPCerts      = "certs"
	EPReleases   = "releases"
	EPSearch     = "search"
	EPOther      = "other"
)

// route is a parsed /v1/ path.
type route struct {
	endpoint string
	host     string // canonical, empty if none
	stream   string
	version  string    // releases: a version or "latest"
	file     string    // releases: a file of that version
	err      *apiError // a bad name: 400, reported after authentication
}

// parseRoute reads the raw (still escaped) path, so that no percent-escape
// or dot segment is ever interpreted: names are plain unreserved characters,
// and anything else is refused, not decoded.
func parseRoute(rawPath string) route {
	rest, ok := strings.CutPrefix(rawPath, wire.Prefix)
	if !ok {
		return route{endpoint: EPOther, err: notFound()}
	}
	parts := strings.Split(rest, "/")
	r := route{endpoint: EPOther}
	switch seg := parts[0]; seg { // each endpoint class is named by its path segment
	case EPLogs, EPHeartbeat, EPHostHealth, EPFleet, EPEnroll, EPCerts, EPReleases, EPSearch:
		r.endpoint = seg
	}
	switch r.endpoint {
	case EPLogs:
		if len(parts) < 2 {
			r.err = notFound()
			return r
		}
		if r.host, r.err = parseHost(parts[1]); r.err != nil {
			return r
		}
		if len(parts) > 3 {
			r.err = badName("a stream name may not contain '/'; use [A-Za-z0-9][A-Za-z0-9._-], at most 128 characters")
			return r
		}
		if len(parts) == 3 {
			if err := names.Stream(parts[2]); err != nil {
				r.err = badName(fmt.Sprintf("the stream name is not valid (%s); use [A-Za-z0-9][A-Za-z0-9._-], at most 128 characters", trimInvalid(err)))
				return r
			}
			r.stream = parts[2]
		}
	case EPFleet, EPEnroll, EPSearch:
		if len(parts) != 1 {
			r.err = notFound()
		}
	case EPReleases:
		switch {
		case len(parts) == 2 && parts[1] == "latest":
			r.version = "latest"
		case len(parts) == 3 && release.ValidVersion(parts[1]) && release.ValidFile(parts[2]):
			r.version, r.file = parts[1], parts[2]
		case len(parts) == 3:
			r.err = badName("a release is /v1/releases/MAJOR.MINOR.PATCH/FILE, FILE manifest.json or cis490-linux-amd64|arm64|armv7")
		default:
			r.err = notFound()
		}
	case EPCerts:
		if len(parts) != 2 || parts[1] != "renew" {
			r.err = notFound()
		}
	case EPHostHealth:
		switch len(parts) {
		case 1:
		case 2:
			r.host, r.err = parseHost(parts[1])
		default:
			r.err = notFound()
		}
	case EPHeartbeat:
		if len(parts) != 2 {
			r.err = notFound()
			return r
		}
		r.host, r.err = parseHost(parts[1])
	default:
		r.err = &apiError{status: http.StatusNotFound, reason: wire.ReasonNotFound,
			msg: fmt.Sprintf("%s is not served by this receiver version; update the receiver", rawPath)}
	}
	return r
}

func parseHost(s string) (string, *apiError) {
	h, err := names.Host(s)
	if err != nil {
		return "", badName(fmt.Sprintf("the host name in the path is not valid (%s); use the host's DNS name, letters, digits, '-' and '.'", trimInvalid(err)))
	}
	return h, nil
}

func trimInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), names.ErrInvalid.Error()+": ")
}

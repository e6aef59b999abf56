// Package wire is the contract between the hosts and the receiver: the
// endpoint paths, the X-Cis490-* headers, the reasons a refusal names and
// the JSON bodies both sides marshal. The receiver and every client import
// it, so a name spelt once here cannot drift between the two sides, and a
// host-side program links none of the receiver's packages to learn it.
//
// Everything here is part of the external contract (SPEC.md): hosts in the
// field and operators' scripts rely on these exact strings. Add to it;
// never rename.
//
// It imports only the standard library, so that anything may import it.
package wire

import (
	"net/url"
	"strconv"
)

// Paths. Those with a name in them are built by the functions below, which
// escape the name (the receiver refuses, never decodes, an escaped one).
const (
	// Prefix begins every indexed, authenticated endpoint.
	Prefix = "/v1/"

	PathEnroll         = "/v1/enroll"
	PathRenew          = "/v1/certs/renew"
	PathSearch         = "/v1/search" // GET, admins: search every host's streams
	PathFleet          = "/v1/fleet"
	PathHostHealth     = "/v1/host-health" // GET: every host's snapshot
	PathReleasesLatest = "/v1/releases/latest"

	// Not under Prefix: neither authenticated nor indexed.
	PathHealthz = "/healthz"
	PathMetrics = "/metrics"
)

// Query parameters of the logs endpoint.
const (
	QueryOffset = "offset" // byte offset: where a PUT appends, where a GET reads from
	QueryLimit  = "limit"  // GET: at most this many bytes
	QuerySince  = "since"  // GET: from a duration ago (2h) or an RFC 3339 time
	QueryUntil  = "until"  // GET /v1/search: up to a duration ago or a time
)

// LogsPath is /v1/logs/{host}/{stream}; with stream "" it is the host's
// list of streams, /v1/logs/{host}.
func LogsPath(host, stream string) string {
	p := "/v1/logs/" + url.PathEscape(host)
	if stream != "" {
		p += "/" + url.PathEscape(stream)
	}
	return p
}

// PutLogsPath is the PUT that appends at offset of the stream.
func PutLogsPath(host, stream string, offset int64) string {
	return LogsPath(host, stream) + "?" + QueryOffset + "=" + strconv.FormatInt(offset, 10)
}

// HeartbeatPath is /v1/heartbeat/{host}.
func HeartbeatPath(host string) string { return "/v1/heartbeat/" + url.PathEscape(host) }

// HostHealthPath is /v1/host-health/{host}, where a host PUTs its doctor
// snapshot.
func HostHealthPath(host string) string { return PathHostHealth + "/" + url.PathEscape(host) }

// ReleasePath is /v1/releases/{version}/{file}.
func ReleasePath(version, file string) string {
	return "/v1/releases/" + url.PathEscape(version) + "/" + url.PathEscape(file)
}

package wire

// Reasons: the short code a refusal names, in its JSON body ("reason") and
// in its index line. The sentence beside it is for people; programs (the
// shipper, the detector, scripts) switch on these.
const (
	// Authentication and authorization.
	ReasonNoCert         = "no-cert"
	ReasonCertExpired    = "cert-expired"
	ReasonCertNotYet     = "cert-not-yet-valid"
	ReasonCertUnknown    = "cert-unknown-ca"
	ReasonCertBadUsage   = "cert-bad-usage"
	ReasonCertRevoked    = "cert-revoked"
	ReasonCertSuperseded = "cert-superseded" // an expired certificate that is not the newest may not renew
	ReasonNoToken        = "no-token"
	ReasonBadToken       = "bad-token"
	ReasonHostMismatch   = "host-mismatch"  // path, certificate and token name different hosts
	ReasonAdminMismatch  = "admin-mismatch" // the admin token and certificate name different admins
	ReasonCredMismatch   = "cred-mismatch"  // an admin certificate with a host token, or the reverse
	ReasonAdminWrite     = "admin-write"    // admins read every host's data but write as none
	ReasonNotAdmin       = "not-admin"
	ReasonNotHost        = "not-host"

	// Enrollment with a join token.
	ReasonJoinToken   = "join-token"
	ReasonJoinHost    = "join-host"
	ReasonJoinUsed    = "join-used"
	ReasonJoinLive    = "join-live"
	ReasonJoinExpired = "join-expired"
	ReasonBadCSR      = "bad-csr"

	// The request itself.
	ReasonNotFound      = "not-found"
	ReasonMethod        = "method"
	ReasonBadName       = "bad-name"
	ReasonBadOffset     = "bad-offset"
	ReasonBadGeneration = "bad-generation"
	ReasonBadLimit      = "bad-limit"
	ReasonBadSince      = "bad-since"
	ReasonBadSearch     = "bad-search"  // 400: a search's pattern, globs, window or cursor
	ReasonSearchBusy    = "search-busy" // 429: as many searches as the receiver allows are running
	ReasonBadJSON       = "bad-json"
	ReasonBadState      = "bad-state"
	ReasonBadLost       = "bad-lost"  // an X-Cis490-Lost the receiver cannot read
	ReasonBody          = "body"      // the body could not be read in full
	ReasonSlowBody      = "slow-body" // 408: the body came slower than limits.min_body_rate
	ReasonStreams       = "streams"   // 429: the host has quota.host_streams streams already
	ReasonRate          = "rate"      // 429: the host sends more requests a second than limits allow
	ReasonTooLarge      = "too-large"
	ReasonStaleCode     = "stale-code" // 426: the version gate refuses this code
	// 422: a release upload the release key did not sign (for that
	// version, with those bytes).
	ReasonBadSignature = "bad-signature"

	// A stream's offsets (409, with the length to resync to).
	ReasonGap         = "gap"
	ReasonMismatch    = "mismatch"
	ReasonBeforeStart = "before-start"

	// What is not there.
	ReasonNoStream   = "no-stream"
	ReasonNoSnapshot = "no-snapshot"
	ReasonNoRelease  = "no-release"
	// 403: the receiver has no release_key, so it takes no release.
	ReasonNoReleaseKey = "no-release-key"

	// The receiver's limits and faults.
	ReasonQuota      = "quota"      // 429: that host only
	ReasonDiskFull   = "disk-full"  // 507
	ReasonOverloaded = "overloaded" // 503 with Retry-After: backpressure, by design
	ReasonCanceled   = "canceled"
	ReasonStorage    = "storage"
	ReasonFleetView  = "fleet-view"
	ReasonPanic      = "panic"
)

// The limits a 503 overloaded names in its index line's "quota" key, with
// quota_used and quota_limit in bytes: the receiver's memory for request
// bodies (limits.max_inflight), or one host's share of it
// (limits.max_inflight_per_host).
const (
	LimitInflight     = "inflight"
	LimitHostInflight = "host-inflight"
)

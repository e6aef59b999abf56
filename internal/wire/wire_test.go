package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

// The names SPEC.md documents: hosts in the field and scripts rely on
// these exact strings, so a constant that drifts from them breaks the
// contract even though both sides still agree with each other.
func TestSpecNames(t *testing.T) {
	for want, got := range map[string]string{
		"X-Cis490-Code-Commit":      HeaderCommit,
		"X-Cis490-Instance":         HeaderInstance,
		"X-Cis490-Length":           HeaderLength,
		"X-Cis490-Start":            HeaderStart,
		"X-Cis490-Generation":       HeaderGeneration,
		"X-Cis490-Generation-Start": HeaderGenerationStart,

		"cert-expired":    ReasonCertExpired,
		"cert-unknown-ca": ReasonCertUnknown,
		"no-cert":         ReasonNoCert,
		"bad-token":       ReasonBadToken,
		"host-mismatch":   ReasonHostMismatch,
		"stale-code":      ReasonStaleCode,
		"quota":           ReasonQuota,
		"too-large":       ReasonTooLarge,
		"bad-name":        ReasonBadName,
		"gap":             ReasonGap,
		"mismatch":        ReasonMismatch,
		"panic":           ReasonPanic,

		"up":       StateUp,
		"shutdown": StateShutdown,
		"sleep":    StateSleep,

		"/v1/enroll":                 PathEnroll,
		"/v1/certs/renew":            PathRenew,
		"/v1/fleet":                  PathFleet,
		"/v1/host-health":            PathHostHealth,
		"/v1/releases/latest":        PathReleasesLatest,
		"/healthz":                   PathHealthz,
		"/metrics":                   PathMetrics,
		"/v1/logs/lab-1":             LogsPath("lab-1", ""),
		"/v1/logs/lab-1/syslog":      LogsPath("lab-1", "syslog"),
		"/v1/logs/lab-1/s?offset=42": PutLogsPath("lab-1", "s", 42),
		"/v1/heartbeat/lab-1":        HeartbeatPath("lab-1"),
		"/v1/host-health/lab-1":      HostHealthPath("lab-1"),
		"/v1/releases/1.2.3/x":       ReleasePath("1.2.3", "x"),
	} {
		if got != want {
			t.Errorf("got %q, SPEC.md says %q", got, want)
		}
	}
}

// The error body is {"error", "reason"}, plus the length on a 409 (even
// 0: a host resyncs to it) and the accepted releases on a 426.
func TestErrorBody(t *testing.T) {
	zero := int64(0)
	for name, tc := range map[string]struct {
		body Error
		want string
	}{
		"plain":    {Error{Error: "no", Reason: ReasonBadName}, `{"error":"no","reason":"bad-name"}`},
		"noReason": {Error{Error: "no"}, `{"error":"no"}`},
		"conflict": {Error{Error: "no", Length: &zero, Reason: ReasonGap}, `{"error":"no","length":0,"reason":"gap"}`},
		"stale": {Error{Error: "no", Reason: ReasonStaleCode, Accepted: []Release{{Version: "1.0.0", Commit: "c"}}},
			`{"accepted":[{"version":"1.0.0","commit":"c"}],"error":"no","reason":"stale-code"}`},
	} {
		b, err := json.Marshal(tc.body)
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %s, %v; want %s", name, b, err, tc.want)
		}
	}
}

func TestParseLoss(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Loss
		err  string
	}{
		{"bytes=1250000 cause=rotated-away", Loss{Bytes: 1250000, Cause: LostRotatedAway}, ""},
		{"bytes=0 cause=vacuumed entries=42", Loss{Entries: 42, Cause: LostVacuumed}, ""},
		{"bytes=5 cause=truncated future=1", Loss{Bytes: 5, Cause: LostTruncated}, ""},
		{"bytes=-1 cause=truncated", Loss{}, "not a count"},
		{"bytes=5", Loss{}, "names no cause"},
		{"bytes=5 cause=../../etc", Loss{}, "not a short lower-case word"},
		{"bytes=5 cause=bit-rot", Loss{Bytes: 5, Cause: "bit-rot"}, ""}, // a newer shipper's cause
		{"bytes", Loss{}, "not key=value"},
		{strings.Repeat("x", 200), Loss{}, "longer than"},
	} {
		got, err := ParseLoss(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseLoss(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseLoss(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if back, err := ParseLoss(got.String()); err != nil || back != got {
			t.Errorf("round trip of %+v: %+v, %v", got, back, err)
		}
	}
}

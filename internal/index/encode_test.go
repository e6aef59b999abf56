package index

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzAppendLine: the hand-written encoder writes exactly what
// encoding/json writes for any line, hostile header values included.
func FuzzAppendLine(f *testing.F) {
	f.Add("lab-1", "abc", "inst", "10.0.0.7:1", 3.25, int64(4096), uint64(7))
	f.Add("", "\x00\"\\<>&\u2028\u2029\xff\xfe", "é\n\t\r", "", 0.0, int64(0), uint64(0))
	f.Add("x", "\x1f\x7f", "a\u0085b", "[::1]:9", 1e-7, int64(-1), uint64(1<<63))
	f.Fuzz(func(t *testing.T, host, commit, instance, remote string, dur float64, n int64, seq uint64) {
		if dur != dur || dur > 1e20 || dur < -1e20 { // NaN or huge: never a duration in ms
			return
		}
		l := Line{TS: time.Unix(1764165787, 123456789), Host: host, Auth: n%2 == 0, CertHost: host,
			Method: "PUT", Endpoint: "logs", Status: 201, Bytes: n, Commit: commit, Instance: instance,
			Reason: commit, Remote: remote, DurMS: dur, Stream: instance, Gate: remote, CertExpires: host, Seq: seq,
			Quota: commit, QuotaUsed: n, QuotaLimit: -n, Lost: n, LostEntries: n / 3, LostCause: remote,
			Pattern: instance, SearchMode: commit, Window: remote}
		// encoding/json by reflection (lineAlias has no MarshalJSON method).
		want, err := json.Marshal(wire{TS: l.TS.UTC().Format(TimeFormat), lineAlias: lineAlias(l)})
		if err != nil {
			t.Skip()
		}
		got := appendLine(nil, &l)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %s", got)
		}
		var a, b map[string]any
		json.Unmarshal(want, &a)
		json.Unmarshal(got, &b)
		wa, _ := json.Marshal(a)
		wb, _ := json.Marshal(b)
		if !bytes.Equal(wa, wb) {
			t.Fatalf("encoders differ:\njson: %s\nours: %s", want, got)
		}
	})
}

package index

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseLine: the fast path reads exactly what encoding/json reads.
func FuzzParseLine(f *testing.F) {
	for _, l := range []Line{
		put("lab-1", t0, 201, ""),
		heartbeat("elliott-thinkpad", t0.Add(time.Millisecond), "sleep"),
		{TS: t0, Host: "", Method: "GET", Endpoint: "other", Status: 404, Reason: "bad-name", Remote: "[::1]:5", DurMS: 0.25, Bytes: 4096},
		{TS: t0, Host: "lab-2", Auth: true, CertHost: "lab-2", Method: "PUT", Endpoint: "logs", Status: 201, Stream: "syslog",
			Lost: 1250000, LostEntries: 12, LostCause: "rotated-away", Quota: "day", QuotaUsed: 5, QuotaLimit: 9},
		{TS: t0, Method: "GET", Endpoint: "search", Status: 200, Admin: "alice", Auth: true, Bytes: 1 << 30,
			Pattern: "out of memory", SearchMode: "words+i", Window: "2026-12-06T20:00:00Z/"},
	} {
		b, _ := l.MarshalJSON()
		f.Add(b)
	}
	f.Add([]byte(`{"ts":"2026-11-26T10:00:00Z","host":"a\u0041","status":1e2}`))
	f.Add([]byte(`{"ts":"2026-11-26T10:00:00Z","x":{"y":[1,2]},"auth":true}`))
	typical, _ := put("lab-1", t0, 201, "").MarshalJSON()
	f.Fuzz(func(t *testing.T, b []byte) {
		// Each line three times with the same strs: fresh, after a
		// typical line, and again (every value now the one before's).
		seen := &strs{}
		for _, prime := range [][]byte{nil, typical, b} {
			if prime != nil {
				fastParse(prime, &Line{}, seen)
			}
			var fast Line
			if fastParse(b, &fast, seen) != nil {
				return
			}
			var slow Line
			if err := json.Unmarshal(b, &slow); err != nil {
				t.Fatalf("fast path read %q, encoding/json refuses it: %v", b, err)
			}
			if !fast.TS.Equal(slow.TS) {
				t.Fatalf("ts: fast %v, slow %v", fast.TS, slow.TS)
			}
			fast.TS, slow.TS = time.Time{}, time.Time{}
			if fast != slow {
				t.Fatalf("%q:\nfast %+v\nslow %+v", b, fast, slow)
			}
		}
	})
}

// A repeated key: the fast path reads what encoding/json reads.
func TestFastParseRepeatedKey(t *testing.T) {
	b := []byte(`{"ts":"2026-11-26T10:00:00.000Z","host":"a","auth":true,"auth":false,"cert_host":""}`)
	var fast Line
	if err := fastParse(b, &fast, &strs{}); err != nil {
		t.Fatalf("fast path declined a plain line: %v", err)
	}
	var l Line
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if fast.Auth != l.Auth {
		t.Errorf("fast auth=%v, encoding/json auth=%v", fast.Auth, l.Auth)
	}
}

// TestKnownKeysMatchTheLine: the fast parser's two lists of index keys
// (knownKeys for the case-folding check, keyOf's switch for speed) name
// exactly Line's JSON keys, so a field added to the index is not
// silently dropped or mis-typed by the reader.
func TestKnownKeysMatchTheLine(t *testing.T) {
	want := []string{"ts"} // written by Line's MarshalJSON
	typ := reflect.TypeFor[Line]()
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			want = append(want, name)
		}
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(knownKeys))
	if !slices.Equal(got, want) {
		t.Fatalf("knownKeys %v; Line has %v", got, want)
	}
	for _, k := range want {
		if _, kind, err := keyOf([]byte(k)); kind == 0 || err != nil {
			t.Errorf("keyOf(%q) = %q, %v; the fast parser would skip it", k, kind, err)
		}
	}
}

// TestParseTSMatchesTimeParse: the writer's stamps read digit by digit
// give what time.Parse gives, and what it refuses is refused.
func TestParseTSMatchesTimeParse(t *testing.T) {
	cases := []string{"2026-11-26T10:00:00.000Z", "2026-11-31T10:00:00.000Z", "2024-02-29T23:59:59.999Z",
		"2025-02-29T00:00:00.000Z", "2026-12-31T24:00:00.000Z", "2026-12-31T23:60:00.000Z", "2016-12-31T23:59:60.000Z",
		"0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2026-00-10T00:00:00.000Z", "2026-13-10T00:00:00.000Z",
		"2026-01-00T00:00:00.000Z", "2026-1a-10T00:00:00.000Z", "2026-11-26t10:00:00.000Z", "2026-11-26T10:00:00.000z",
		"2026-11-26T10:00:00.00Z", "2026-11-26T10:00:00Z", "2026-11-26T10:00:00.000+01:00", "-026-11-26T10:00:00.000Z"}
	for i := range 2000 {
		cases = append(cases, time.Unix(int64(i)*7919*3571, int64(i)*1e6).UTC().Format(TimeFormat))
	}
	for _, c := range cases {
		want, werr := time.Parse(time.RFC3339Nano, c)
		got, gerr := parseTS([]byte(c))
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want.UTC()) {
			t.Errorf("parseTS(%q) = %v, %v; time.Parse gives %v, %v", c, got, gerr, want, werr)
		}
	}
}

// TestParseAfterOtherLines: a line reads the same whatever lines the
// parser read before it (the writer's key order, then another; a value
// equal to the line before's, a prefix of it, longer, escaped).
func TestParseAfterOtherLines(t *testing.T) {
	lines := []string{
		`{"ts":"2026-11-26T10:00:00.000Z","host":"abc","auth":true,"method":"PUT","seq":1}`,
		`{"ts":"2026-11-26T10:00:00.001Z","host":"abc","auth":true,"method":"PUT","seq":2}`,
		`{"ts":"2026-11-26T10:00:00.002Z","host":"ab","auth":false,"method":"PUTS","seq":3}`,
		`{"ts":"2026-11-26T10:00:00.003Z","host":"abc\"","method":"PU\u0054","seq":4}`,
		`{"ts":"2026-11-26T10:00:00.004Z","host":"abcd","method":"PUT","seq":5}`,
		`{"ts":"2026-11-26T10:00:00.005Z", "host" : "abc" ,"method":"PUT","seq":6}`,
		`{"seq":7,"method":"PUT","host":"abc","ts":"2026-11-26T10:00:00.006Z"}`,
		`{"ts":"2026-11-26T10:00:00.007Z","host":"abc","auth":"yes"}`,
		`{"ts":"2026-11-26T10:00:00.008Z","host":"abc","auth":true,"x":1,"method":"PUT"}`,
		`{"ts":"2026-11-26T10:00:00.009Z","host":"abc","host":"x","auth":true}`,
	}
	seen := &strs{}
	for _, s := range lines {
		var got, want Line
		err := parseLine([]byte(s), &got, seen)
		jerr := json.Unmarshal([]byte(s), &want)
		if (err != nil) != (jerr != nil) {
			t.Fatalf("%s: parse %v, encoding/json %v", s, err, jerr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", s, got, want)
		}
	}
}

// TestShortNumbers: numbers read without strconv read as strconv (and
// so encoding/json) reads them, and those it would refuse are refused.
func TestShortNumbers(t *testing.T) {
	for _, n := range []string{"0", "-0", "7", "201", "-3", "4096", "999999999999999", "1000000000000000",
		"3.2", "0.1", "-0.0", "0.25", "12345678.1234567", "1.000000000000001", "00", "01", "1.", ".5", "-", "1e3",
		"9223372036854775807", "18446744073709551615", "-9223372036854775808", "1.5"} {
		for _, key := range []string{"status", "bytes", "seq", "dur_ms", "count", "other"} {
			s := `{"ts":"2026-11-26T10:00:00.000Z","` + key + `":` + n + `}`
			var got, want Line
			err := parseLine([]byte(s), &got, &strs{})
			jerr := json.Unmarshal([]byte(s), &want)
			if (err != nil) != (jerr != nil) {
				t.Errorf("%s: parse %v, encoding/json %v", s, err, jerr)
				continue
			}
			if err == nil && (!reflect.DeepEqual(got, want) || math.Signbit(got.DurMS) != math.Signbit(want.DurMS)) {
				t.Errorf("%s:\ngot  %+v\nwant %+v", s, got, want)
			}
		}
	}
}

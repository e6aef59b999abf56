package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultReceiverValid(t *testing.T) {
	r := DefaultReceiver()
	r.Resolve("/etc/cis490")
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	want := ReceiverTLS{
		Cert: "/var/lib/cis490/ca/server.crt",
		Key:  "/var/lib/cis490/ca/server.key",
		CA:   "/var/lib/cis490/ca/ca.crt",
	}
	if r.TLS != want {
		t.Errorf("derived TLS = %+v; want %+v", r.TLS, want)
	}
	// Each call returns fresh slices: decoding into one must not touch another.
	a, b := DefaultReceiver(), DefaultReceiver()
	a.ServerNames[0] = "x"
	if b.ServerNames[0] != "localhost" {
		t.Error("DefaultReceiver shares ServerNames between calls")
	}
}

func TestLoadReceiverGood(t *testing.T) {
	r, err := LoadReceiver("testdata/receiver-good.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	data := filepath.Join(dir, "data")
	want := Receiver{
		Listen:      "127.0.0.1:9443",
		DataDir:     data,
		ServerNames: []string{"receiver.lab", "10.0.0.2", "::1"},
		TLS: ReceiverTLS{
			Cert: filepath.Join(dir, "certs/server.crt"),
			Key:  filepath.Join(data, "ca/server.key"),
			CA:   filepath.Join(data, "ca/ca.crt"),
		},
		Limits:    Limits{MaxBody: 4 * MiB, MaxInflight: 128 * MiB, MinFree: 3 * GiB / 2, MinBodyRate: 1 * KiB, HostRate: 50, HostBurst: 500, MaxConns: 4096, MaxConnsPerAddress: 256, MaxConnsPerHost: 16},
		Quota:     Quota{HostBytesPerDay: 500 * MB, HostBytesTotal: 0, HostStreams: 1000},
		Retention: Retention{MaxAge: Duration(30 * Day), MaxBytes: 10 * GiB},
		Index:     Index{MaxAge: Duration(36 * time.Hour), MaxBytes: GiB},
		Gate: Gate{Accept: 3, Releases: []Release{
			{Version: "1.3.0", Commit: "0123456789abcdef0123456789abcdef01234567"},
			{Version: "1.4.0", Commit: "89abcdef0123456789abcdef0123456789abcdef"},
		}},
		FleetHealth: func() FleetHealth {
			f := DefaultFleetHealth()
			f.SilentAfter, f.ConfirmRuns = Duration(45*time.Minute), 3
			f.Syslog, f.DeadmanURL = "udp:10.0.0.5:514", "https://hc.example/ping/abc"
			f.Notify = []Notifier{{Kind: "ntfy", URL: "https://ntfy.example/lab-alerts"}}
			f.QuietHours = []QuietHours{{Hosts: []string{"room-b-*"}, Days: []string{"weekdays"}, From: "19:00", To: "07:00"}}
			return f
		}(),
		Certs:    Certs{HostLifetime: Duration(30 * Day), RenewGrace: Duration(30 * Day)},
		Shutdown: Duration(time.Minute),
		file:     "testdata/receiver-good.toml",
	}
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("got  %+v\nwant %+v", *r, want)
	}
}

func TestLoadReceiverMissingFile(t *testing.T) {
	_, err := LoadReceiver("testdata/no-such-file.toml")
	if err == nil || !strings.Contains(err.Error(), "no-such-file.toml") {
		t.Fatalf("error = %v; want it to name the file", err)
	}
}

// badCase is one invalid config file and what its error must say.
type badCase struct {
	file string // under testdata/
	want string // substring of the error, after "testdata/<file>"
	key  string // Key of the first *Error
	line int    // Line of the first *Error, 0 when not known
}

func checkBad(t *testing.T, tests []badCase, load func(string) error) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			err := load(path)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to name %s and contain %q", err, path, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if ce.File != path || ce.Key != tt.key || ce.Line != tt.line {
				t.Errorf("File, Key, Line = %q, %q, %d; want %q, %q, %d", ce.File, ce.Key, ce.Line, path, tt.key, tt.line)
			}
			if strings.Contains(err.Error(), " toml: ") || strings.Contains(err.Error(), "last key") {
				t.Errorf("error %q leaks the TOML library's prefix", err)
			}
		})
	}
}

func TestLoadReceiverBad(t *testing.T) {
	tests := []badCase{
		{"receiver-bad-proxy.toml", `proxy_protocol_from: "lb.example" is not an address or CIDR prefix`, "proxy_protocol_from", 0},
		{"receiver-bad-release-key.toml", "release_key: is not an Ed25519 public key; paste the base64 line `cis490 release keygen` printed", "release_key", 0},
		{"receiver-bad-commit.toml", `: gate.releases[1].commit: "abc" is not a full commit; write the 40-hex output of git rev-parse HEAD`, "gate.releases[1].commit", 0},
		{"receiver-upper-commit.toml", "is not a full commit; write the 40-hex output of git rev-parse HEAD (lowercase", "gate.releases[0].commit", 0},
		{"receiver-dup-version.toml", `gate.releases[1].version: "1.0.0" is already gate.releases[0]`, "gate.releases[1].version", 0},
		{"receiver-dup-commit.toml", "is already the commit of gate.releases[0]", "gate.releases[1].commit", 0},
		{"receiver-no-version.toml", "gate.releases[0].version: is missing", "gate.releases[0].version", 0},
		{"receiver-accept-zero.toml", "gate.accept: 0 accepts no release at all; write 1 or more", "gate.accept", 0},
		{"receiver-unknown-key.toml", "limits.max_bodyy: unknown key; did you mean limits.max_body?", "limits.max_bodyy", 0},
		{"receiver-unknown-table.toml", "limit: unknown key; did you mean limits?", "limit", 0},
		{"receiver-misplaced-key.toml", "gate.shutdown_timeout: unknown key; did you mean the top-level shutdown_timeout? top-level keys must come before the first [table] header", "gate.shutdown_timeout", 0},
		{"receiver-bad-size.toml", `:2: limits.max_body: "8 mebibytes" has an unknown unit "mebibytes"; write`, "limits.max_body", 2},
		{"receiver-bool-size.toml", `:2: limits.max_body: true is not a size; write a whole number of bytes or a number with a unit`, "limits.max_body", 2},
		{"receiver-float-size.toml", `:2: limits.max_body: 1.5 is a bare number with a fraction; put it in quotes with a unit, like "1.5GiB"`, "limits.max_body", 2},
		{"receiver-negative.toml", ":2: quota.host_bytes_total: -1 is negative", "quota.host_bytes_total", 2},
		{"receiver-bad-duration.toml", `:2: retention.max_age: "90" is a bare number without a unit; write a number with a unit`, "retention.max_age", 2},
		{"receiver-int-duration.toml", ":1: shutdown_timeout: 30 is a bare number without a unit", "shutdown_timeout", 1},
		{"receiver-wrong-type.toml", ":1: listen: an integer is the wrong type here; write a string in quotes", "listen", 1},
		{"receiver-not-table.toml", ":1: limits: an integer is the wrong type here; write a table, [limits]", "limits", 1},
		{"receiver-syntax.toml", ":3: this is not valid TOML: expected '.' or ']' to end table name", "", 3},
		{"receiver-inflight.toml", "limits.max_inflight: 8MiB is smaller than limits.max_body (16MiB)", "limits.max_inflight", 0},
		{"receiver-bad-listen.toml", `listen: "8443" is not an address; write host:port or :port`, "listen", 0},
		{"receiver-bad-server-name.toml", `server_names[0]: "receiver_lab" is neither a DNS name nor an IP address`, "server_names[0]", 0},
		{"receiver-empty-server-names.toml", "server_names: is empty", "server_names", 0},
		{"receiver-short-index.toml", `index.max_age: 1h is shorter than the 24h window fleet-health reads; write at least "1d"`, "index.max_age", 0},
	}
	checkBad(t, tests, func(path string) error {
		r, err := LoadReceiver(path)
		if err == nil && r == nil {
			t.Error("nil config without error")
		}
		return err
	})
}

func TestReceiverValidateAll(t *testing.T) {
	r := DefaultReceiver()
	r.Resolve("/etc/cis490")
	r.Listen = ""
	r.DataDir = "relative"
	r.Limits.MaxBody = 0
	r.Gate.Accept = 0
	r.Gate.Releases = []Release{{Version: "a/b", Commit: ""}}
	r.Shutdown = 0
	err := r.Validate()
	if err == nil {
		t.Fatal("Validate passed")
	}
	for _, want := range []string{
		"receiver.toml: listen: is empty",
		`receiver.toml: data_dir: "relative" is relative`,
		"receiver.toml: limits.max_body: 0B is not a positive size",
		"receiver.toml: gate.accept: 0 accepts no release",
		`receiver.toml: gate.releases[0].version: "a/b" is not a version name`,
		"receiver.toml: gate.releases[0].commit: is missing",
		"receiver.toml: shutdown_timeout: 0s is not a positive duration",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("got %d lines, want 7 (one per problem):\n%v", n, err)
	}
}

func TestResolveRelative(t *testing.T) {
	r := DefaultReceiver()
	r.DataDir = "../data"
	r.TLS.Key = "keys/server.key"
	r.Resolve("/etc/cis490")
	if r.DataDir != "/etc/data" || r.TLS.Cert != "/etc/data/ca/server.crt" || r.TLS.Key != "/etc/cis490/keys/server.key" {
		t.Errorf("Resolve: DataDir %q, Cert %q, Key %q", r.DataDir, r.TLS.Cert, r.TLS.Key)
	}
}

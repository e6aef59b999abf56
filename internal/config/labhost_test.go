package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadLabHostGood(t *testing.T) {
	h, err := LoadLabHost("testdata/lab-host-good.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	want := LabHost{
		Receiver: "https://receiver.lab:8443",
		Host:     "elliott-thinkpad",
		StateDir: filepath.Join(dir, "state"),
		TLS: HostTLS{
			Cert:      "/etc/cis490/host.crt",
			Key:       "/etc/cis490/host.key",
			CA:        filepath.Join(dir, "ca.crt"),
			TokenFile: "/etc/cis490/token",
		},
		Batch:     Batch{MaxBytes: 512 * KiB, MaxWait: Duration(2 * time.Second)},
		Heartbeat: Duration(2 * time.Minute),
		Sources: []Source{
			{Path: "/var/log/syslog"},
			{Path: "/var/log/auth.log", Stream: "auth"},
			{Path: "/var/log/lab/*.log"},
		},
		file: "testdata/lab-host-good.toml",
	}
	if !reflect.DeepEqual(*h, want) {
		t.Errorf("got  %+v\nwant %+v", *h, want)
	}
	if h.Sources[0].IsGlob() || !h.Sources[2].IsGlob() {
		t.Error("IsGlob is wrong")
	}
}

// TestLoadLabHostJournal: a bare [[journal]] ships the whole system
// journal from the current boot as stream "journal".
func TestLoadLabHostJournal(t *testing.T) {
	h, err := LoadLabHost("testdata/lab-host-journal.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Journal{
		{Stream: "journal", Priority: "debug", Since: "boot"},
		{Stream: "ssh", Units: []string{"ssh", "cron*"}, Identifiers: []string{"sudo"}, Priority: "info", Since: "all", UserJournals: true},
	}
	if !reflect.DeepEqual(h.Journals, want) {
		t.Errorf("journals = %+v\nwant %+v", h.Journals, want)
	}
	if !reflect.DeepEqual(h.Sources[0].Exclude, []string{"syslog", "auth.log"}) {
		t.Errorf("exclude = %q", h.Sources[0].Exclude)
	}
}

func TestDefaultLabHost(t *testing.T) {
	h := DefaultLabHost()
	if h.StateDir != "/var/lib/cis490" || h.Batch.MaxBytes != MiB || h.Batch.MaxWait.Duration() != 5*time.Second || h.Heartbeat.Duration() != 5*time.Minute {
		t.Errorf("defaults = %+v", h)
	}
	// The defaults lack the required keys.
	err := h.Validate()
	for _, want := range []string{"lab-host.toml: receiver: is missing", "lab-host.toml: host: is missing", "lab-host.toml: tls.token_file: is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to contain %q", err, want)
		}
	}
}

func TestLoadLabHostBad(t *testing.T) {
	tests := []badCase{
		{"lab-host-http-url.toml", `receiver: "http://receiver.lab:8443" uses plain http, but the receiver speaks only mutual TLS; write https://, like "https://receiver.lab:8443"`, "receiver", 0},
		{"lab-host-no-scheme.toml", `receiver: "receiver.lab:8443" is not an https:// URL`, "receiver", 0},
		{"lab-host-url-path.toml", "has more than scheme, host and port", "receiver", 0},
		{"lab-host-bad-host.toml", `host: "lab_pc_07" is not a valid host name: host name has '_'`, "host", 0},
		{"lab-host-unicode-host.toml", "non-ASCII byte", "host", 0},
		{"lab-host-dash-host.toml", `label "-lab" starts or ends with '-'`, "host", 0},
		{"lab-host-no-host.toml", "host: is missing; write this machine's host name", "host", 0},
		{"lab-host-no-tls.toml", "tls.cert: is empty; write the path of a file", "tls.cert", 0},
		{"lab-host-relative-source.toml", `source[0].path: "var/log/syslog" is relative; write an absolute path or glob`, "source[0].path", 0},
		{"lab-host-glob-stream.toml", "source[0].stream: is set but path \"/var/log/lab/*.log\" is a glob", "source[0].stream", 0},
		{"lab-host-bad-stream.toml", `source[0].stream: ".hidden" is not a stream name`, "source[0].stream", 0},
		{"lab-host-dup-source.toml", `source[1].path: "/var/log//syslog" is already source[0]`, "source[1].path", 0},
		{"lab-host-bad-glob.toml", "is not a valid glob", "source[0].path", 0},
		{"lab-host-bad-batch.toml", "batch.max_bytes: 0B is not a positive size", "batch.max_bytes", 0},
		{"lab-host-journal-priority.toml", `journal[0].priority: "loud" is not a priority; write one of emerg`, "journal[0].priority", 0},
		{"lab-host-journal-since.toml", `journal[0].since: "yesterday" is not where to start`, "journal[0].since", 0},
		{"lab-host-journal-dup-stream.toml", `journal[0].stream: "journal" is already the stream of source[0]`, "journal[0].stream", 0},
		{"lab-host-exclude-plain.toml", `source[0].exclude[0]: "x" cannot be excluded here`, "source[0].exclude[0]", 0},
		{"lab-host-unknown-key.toml", "source.steam: unknown key; did you mean source.stream?", "source.steam", 0},
	}
	checkBad(t, tests, func(path string) error {
		h, err := LoadLabHost(path)
		if err == nil && h == nil {
			t.Error("nil config without error")
		}
		return err
	})
}

// TestLoadMissingFile: a config file that is not there is named, with
// the flag that points at the right one.
func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lab-host.toml")
	_, err := LoadLabHost(p)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "--config FILE") {
		t.Fatalf("LoadLabHost(missing) = %v", err)
	}
}

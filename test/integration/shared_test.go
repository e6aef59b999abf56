package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/cli"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/localsrv"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/testenv"
)

// sharedStorage writes what two receivers need to share postgres+s3: the
// [storage] section and the bucket's credentials file, in dir. It returns
// the section, the backend's options and the bucket's folder on disk.
func sharedStorage(t *testing.T, dir string) (string, pgs3.Options, string) {
	t.Helper()
	testenv.Require(t, testenv.PostgreSQL())
	dsn, s3 := testenv.Postgres(t), testenv.S3Server(t)
	section, err := localsrv.StorageTOML(dir, dsn, s3)
	if err != nil {
		t.Fatal(err)
	}
	return section, pgs3.Options{Postgres: dsn, S3: pgs3.S3{Endpoint: s3.Endpoint, Region: s3.Region, Bucket: s3.Bucket, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}},
		filepath.Join(s3.Dir, s3.Bucket)
}

// reissue issues the fleet's host and admin bundles again through the
// receiver's config, once it names postgres+s3: newFleet issued them into
// the data folder's files, which such receivers do not read.
func (f *fleet) reissue(t *testing.T) {
	t.Helper()
	for name, c := range f.hosts {
		out := filepath.Join(f.dir, "bundles", "shared-"+name)
		runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--host", name, "--out", out)
		*c = *f.loadClient(name, out, "host", !c.hc.Transport.(*http.Transport).DisableKeepAlives)
	}
	out := filepath.Join(f.dir, "bundles", "shared-admin")
	runCLI(t, "ca", "issue", "--config", f.rcv.cfgPath, "--admin", f.admin.name, "--out", out)
	*f.admin = *f.loadClient(f.admin.name, out, "admin", true)
}

// twoSharedReceivers starts a fleet of hosts whose receiver and a second
// one share postgres+s3, with the bundles issued again through them; it
// returns the fleet, the second receiver and the backend's options.
func twoSharedReceivers(t *testing.T, hosts ...string) (*fleet, *receiverProc, pgs3.Options) {
	t.Helper()
	f := newFleet(t, hosts, true)
	section, opt, _ := sharedStorage(t, f.dir)
	f.rcv.extra = section
	f.rcv.writeConfig()
	r2 := newReceiverProc(t, t.TempDir())
	r2.dataDir, r2.extra, r2.pool = f.rcv.dataDir, section, f.rcv.pool
	r2.writeConfig() // the same CA; tokens, ledger and revocations are in the database
	f.reissue(t)
	f.rcv.Start()
	r2.Start()
	return f, r2, opt
}

// TestSharedBackendTwoReceivers runs two real receivers on one
// PostgreSQL and one bucket: what one stores, the other answers for — a
// retry sent to the other is 200, different bytes 409 — and every
// request is one index line in the shared index.
func TestSharedBackendTwoReceivers(t *testing.T) {
	f, r2, opt := twoSharedReceivers(t, "lab-01")

	h1 := f.hosts["lab-01"]
	h2 := *h1
	h2.rcv = r2
	put := func(c *client, off int64, body string) result {
		t.Helper()
		return c.do("PUT", "lab-01", "syslog", fmt.Sprintf("offset=%d", off), strings.NewReader(body), int64(len(body)))
	}
	steps := []struct {
		c      *client
		off    int64
		body   string
		status int
		length int64
	}{
		{h1, 0, "hello\n", 201, 6},
		{&h2, 0, "hello\n", 200, 6},     // a retry on the other receiver
		{&h2, 0, "HELLO\n", 409, 6},     // different bytes
		{&h2, 6, "world\n", 201, 12},    // the other receiver carries on
		{h1, 3, "lo\nworld\n", 200, 12}, // overlapping retry, nothing new
	}
	for i, s := range steps {
		res := put(s.c, s.off, s.body)
		if res.err != nil || res.status != s.status {
			t.Fatalf("step %d: PUT %q at %d: %d %v %s; want %d", i, s.body, s.off, res.status, res.err, res.body, s.status)
		}
		if n, ok := res.length(); !ok || n != s.length {
			t.Fatalf("step %d: length %d (%v); want %d", i, n, ok, s.length)
		}
	}
	if n, res := h1.head("lab-01", "syslog"); n != 12 {
		t.Fatalf("HEAD on the first receiver: %d (%d %s); want 12", n, res.status, res.body)
	}
	admin2 := *f.admin
	admin2.rcv = r2
	got, err := admin2.readAll("lab-01", "syslog", 12)
	if err != nil || string(got) != "hello\nworld\n" {
		t.Fatalf("read back through the second receiver: %q %v", got, err)
	}

	// Every request answered is one line of the shared index.
	b, err := pgs3.Open(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var puts, statuses []string
	eventually(t, 10*time.Second, func() string {
		puts, statuses = nil, nil
		if _, _, err := b.Lines().Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
			if l.Method == "PUT" && l.Stream == "syslog" {
				puts = append(puts, fmt.Sprint(l.Status))
			}
			statuses = append(statuses, l.Method)
		}); err != nil {
			return err.Error()
		}
		if len(puts) != len(steps) {
			return fmt.Sprintf("%d PUT lines in the index; want %d (lines: %v)", len(puts), len(steps), statuses)
		}
		return ""
	})
	// `host remove` through the shared config reaches both receivers
	// within a few seconds (each polls the database every second).
	runCLI(t, "host", "remove", "--config", f.rcv.cfgPath, "lab-01")
	for _, c := range []*client{h1, &h2} {
		eventually(t, 5*time.Second, func() string {
			if res := put(c, 12, "after\n"); res.status != 401 && res.status != 403 {
				return fmt.Sprintf("a removed host's PUT on %s: %d %s", c.rcv.URL(), res.status, res.body)
			}
			return ""
		})
	}
	want := map[string]int{"201": 2, "200": 2, "409": 1}
	for _, s := range puts {
		want[s]--
	}
	for s, n := range want {
		if n != 0 {
			t.Fatalf("index PUT statuses %v; want two 201, two 200, one 409 (%s off by %d)", puts, s, n)
		}
	}
}

// TestSharedBackendGrep: `cis490 grep` asked of either receiver on
// postgres+s3 finds what hosts shipped to both, with the same lines, and
// continues from a cursor one receiver gave on the other.
func TestSharedBackendGrep(t *testing.T) {
	f, r2, _ := twoSharedReceivers(t, "lab-01", "lab-02")

	h2 := *f.hosts["lab-02"]
	h2.rcv = r2
	for _, s := range []struct {
		c    *client
		host string
	}{{f.hosts["lab-01"], "lab-01"}, {&h2, "lab-02"}} {
		body := s.host + ": boot ok\n" + s.host + ": kernel: Out of memory: Killed process 77\n"
		if res := s.c.do("PUT", s.host, "syslog", "offset=0", strings.NewReader(body), int64(len(body))); res.err != nil || res.status != 201 {
			t.Fatalf("%s: PUT: %d %v %s", s.host, res.status, res.err, res.body)
		}
	}
	admin := filepath.Join(f.dir, "bundles", "shared-admin")
	grep := func(rcv *receiverProc, args ...string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(admin, cli.AdminReceiverFile), []byte(rcv.URL()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return runCLI(t, append([]string{"grep", "--admin", admin}, args...)...)
	}
	want := "lab-01/syslog@16 "
	for _, rcv := range []*receiverProc{f.rcv, r2} {
		out := grep(rcv, "-i", "out of memory")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], "lab-01: kernel: Out of memory: Killed process 77") ||
			!strings.HasPrefix(lines[1], "lab-02/syslog@16 ") {
			t.Fatalf("grep on %s:\n%s", rcv.URL(), out)
		}
	}
	// A page cut by --limit on one receiver goes on on the other.
	out := grep(f.rcv, "--json", "--limit", "1", "memory")
	jl := strings.Split(strings.TrimSpace(out), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(jl[len(jl)-1]), &last); err != nil || last["cursor"] == nil || last["cursor"] == "" {
		t.Fatalf("grep --json --limit 1: %v\n%s", err, out)
	}
	if out := grep(r2, "--cursor", last["cursor"].(string), "memory"); !strings.HasPrefix(out, "lab-02/syslog@16 ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("grep continued from the first receiver's cursor on the second:\n%s", out)
	}
}

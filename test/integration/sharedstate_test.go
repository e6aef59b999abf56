package integration

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/wire"
)

// get sends one GET as c to path on c's receiver: its status and body.
func (c *client) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.rcv.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSharedBackendState: on postgres+s3 the small state is in the
// database and the bucket, not in data_dir: a doctor snapshot sent to
// one receiver and a release published to it are what the other serves,
// and `cis490 host remove` records the removal there.
func TestSharedBackendState(t *testing.T) {
	f := newFleet(t, []string{"lab-01"}, true)
	section, opt, _ := sharedStorage(t, f.dir)
	key := filepath.Join(f.dir, "release.key")
	pub := strings.TrimSpace(runCLI(t, "release", "keygen", "--out", key))
	f.rcv.extra = "release_key = \"" + pub + "\"\n" + section
	f.rcv.writeConfig()
	r2 := newReceiverProc(t, t.TempDir())
	r2.dataDir, r2.extra, r2.pool = f.rcv.dataDir, f.rcv.extra, f.rcv.pool
	r2.writeConfig() // the same CA; tokens, ledger and revocations are in the database
	f.reissue(t)
	f.rcv.Start()
	r2.Start()
	b, err := pgs3.Open(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h1 := f.hosts["lab-01"]
	h2 := *h1
	h2.rcv = r2
	admin2 := *f.admin
	admin2.rcv = r2

	snap := snapshotJSON("lab-01", "6.1.0-it", false)
	if s := h1.hostPut(t, "/v1/host-health/lab-01", snap); s != 200 {
		t.Fatalf("doctor snapshot to the first receiver: %d", s)
	}
	if got, err := b.HostHealth().Read("lab-01"); err != nil || string(got.Snapshot) != snap {
		t.Fatalf("the snapshot in PostgreSQL: %v", err)
	}
	if s, body := admin2.get(t, wire.PathHostHealth); s != 200 || !strings.Contains(string(body), "6.1.0-it") {
		t.Fatalf("the second receiver's host health: %d %s", s, body)
	}

	// A release of a few MiB, published to the first receiver.
	artifact := filepath.Join(f.dir, "cis490-linux-amd64")
	bin := make([]byte, 3<<20)
	rand.Read(bin)
	if err := os.WriteFile(artifact, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "release", "sign", "--key", key, "--version", "9.9.9", "--commit", strings.Repeat("9", 40), "--out", filepath.Join(f.dir, "rel"), artifact)
	runCLI(t, "release", "publish", "--admin", filepath.Join(f.dir, "bundles", "shared-admin"), "--receiver", f.rcv.URL(), "--from", filepath.Join(f.dir, "rel", "9.9.9"))
	if v, err := b.Releases().Versions(); err != nil || !slices.Equal(v, []string{"9.9.9"}) {
		t.Fatalf("releases in PostgreSQL: %v %v", v, err)
	}
	if s, body := h2.get(t, wire.PathReleasesLatest); s != 200 || !strings.Contains(string(body), "payload") {
		t.Fatalf("the latest release from the second receiver: %d %s", s, body)
	}
	if s, body := h2.get(t, wire.ReleasePath("9.9.9", "cis490-linux-amd64")); s != 200 || !bytes.Equal(body, bin) {
		t.Fatalf("the binary from the second receiver: %d, %d bytes", s, len(body))
	}

	runCLI(t, "host", "remove", "lab-01", "--config", f.rcv.cfgPath)
	if m, err := b.Removals().Removed(); err != nil || m["lab-01"].IsZero() {
		t.Fatalf("removed hosts in PostgreSQL: %v %v", m, err)
	}

	// None of it went to data_dir.
	for _, p := range []string{"host-health/lab-01.json", "releases/9.9.9", "removed-hosts.json"} {
		if _, err := os.Stat(filepath.Join(f.rcv.dataDir, p)); err == nil {
			t.Errorf("%s is in data_dir", p)
		}
	}
}

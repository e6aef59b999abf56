package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/transport"
)

const (
	commitOld = "1111111111111111111111111111111111111111"
	commitMid = "2222222222222222222222222222222222222222"
	commitNew = "3333333333333333333333333333333333333333"
)

// TestReleasesAndGate: releases signed off the receiver and published by an
// admin reach hosts — a host running stale code included (never gated) —
// and the gate follows the published releases, a staged rollout locking
// out no host that is not in it yet.
func TestReleasesAndGate(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "release.key")
	code, pub, errs := run(t, "release", "keygen", "--out", key)
	if code != 0 {
		t.Fatal(errs)
	}
	cfg := filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir = \"data\"\nserver_names = [\"127.0.0.1\"]\nlisten = \"127.0.0.1:0\"\nrelease_key = %q\n[limits]\nmin_free = 0\n[gate]\naccept = 1\n", strings.TrimSpace(pub))), 0o644)
	run(t, "ca", "init", "--config", cfg)
	admin := filepath.Join(dir, "admin")
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--admin", "alice", "--out", admin); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", filepath.Join(dir, "lab-1")); code != 0 {
		t.Fatal(errs)
	}
	url := startConfigured(t, cfg)
	bin := filepath.Join(dir, "cis490-linux-amd64")
	publish := func(version, commit, rollout string) {
		t.Helper()
		os.WriteFile(bin, []byte("binary "+version), 0o755)
		if code, _, errs := run(t, "release", "sign", "--key", key, "--version", version, "--commit", commit, "--rollout", rollout, "--out", filepath.Join(dir, "rel"), bin); code != 0 {
			t.Fatalf("sign %s: %s", version, errs)
		}
		if code, out, errs := run(t, "release", "publish", "--admin", admin, "--receiver", url, "--from", filepath.Join(dir, "rel", version)); code != 0 || !strings.Contains(out, "published "+version) {
			t.Fatalf("publish %s: exit %d %q %q", version, code, out, errs)
		}
	}
	host := func(commit string) *transport.Client {
		b := filepath.Join(dir, "lab-1")
		c, err := transport.New(transport.Options{Receiver: url, Host: "lab-1", CertFile: filepath.Join(b, "host.crt"), KeyFile: filepath.Join(b, "host.key"),
			CAFile: filepath.Join(b, "ca.crt"), TokenFile: filepath.Join(b, "token"), Commit: commit})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ctx := context.Background()
	shipAs := func(commit string) int {
		_, err := host(commit).PutLogs(ctx, "app.log", 0, transport.Gen{ID: "g"}, []byte("x"))
		var te *transport.Error
		if errors.As(err, &te) {
			return te.Status
		}
		if err != nil {
			t.Fatal(err)
		}
		return 201
	}
	publish("1.0.0", commitOld, "100")
	publish("1.1.0", commitMid, "100")
	if st := shipAs(commitOld); st != 426 {
		t.Fatalf("a host on 1.0.0 after 1.1.0 was published (accept 1): %d, want 426", st)
	}
	// The detector and the fleet view name what the gate accepts now: the
	// published release, which the config does not list.
	want := "the receiver accepts 1.1.0 (" + commitMid[:12] + ")"
	if code, out, errs := run(t, "fleet-health", "--config", cfg, "--dry-run"); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("the detector on the stale host: exit %d, want %q in\n%s%s", code, want, out, errs)
	}
	if code, out, errs := run(t, "status", "--admin", admin, "--receiver", url, "--json"); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("the fleet view of the stale host: exit %d, want %q in\n%s%s", code, want, out, errs)
	}
	// The stale host can still fetch the fix: never gated.
	resp, err := host(commitOld).Do(ctx, http.MethodGet, "/v1/releases/latest", nil, nil)
	if err != nil || resp.Status != 200 {
		t.Fatalf("a stale host fetching the latest manifest: %v %v", resp, err)
	}
	m, err := release.Verify(strings.TrimSpace(pub), resp.Body)
	if err != nil || m.Version != "1.1.0" {
		t.Fatalf("the latest manifest: %+v, %v", m, err)
	}
	art, err := host(commitOld).Do(ctx, http.MethodGet, "/v1/releases/1.1.0/cis490-linux-amd64", nil, nil)
	if err != nil || art.Status != 200 {
		t.Fatalf("artifact: %v %v", art, err)
	}
	if sum := sha256.Sum256(art.Body); m.Artifacts["linux-amd64"].Matches(int64(len(art.Body)), sum[:]) != nil {
		t.Fatal("the served artifact does not match its manifest")
	}
	// An admin credential without the release key cannot lock the fleet
	// out: an unsigned manifest naming a newer full release is refused,
	// and nothing changes for hosts.
	forge := func(version, commit string) []byte {
		payload, _ := json.Marshal(release.Manifest{Version: version, Commit: commit, Rollout: 100})
		b, _ := json.Marshal(release.Signed{Payload: base64.StdEncoding.EncodeToString(payload)})
		return b
	}
	forged := filepath.Join(dir, "forged", "2.0.0")
	os.MkdirAll(forged, 0o755)
	os.WriteFile(filepath.Join(forged, release.ManifestFile), forge("2.0.0", commitNew), 0o644)
	if code, _, errs := run(t, "release", "publish", "--admin", admin, "--receiver", url, "--from", forged); code == 0 || !strings.Contains(errs, "release_key") || !strings.Contains(errs, "nothing stored") {
		t.Fatalf("an unsigned release published: exit %d %q", code, errs)
	}
	if st := shipAs(commitMid); st == 426 {
		t.Fatal("a refused unsigned release locked out the hosts on the newest signed one")
	}
	// One already in an old data folder counts for nothing either, when
	// the gate is next loaded (here: on the next publish).
	old := filepath.Join(dir, "data", "releases", "5.0.0")
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, release.ManifestFile), forge("5.0.0", strings.Repeat("5", 40)), 0o644)
	// A staged rollout of 1.2.0 (10 %): hosts on 1.1.0 are not locked out.
	publish("1.2.0", commitNew, "10")
	if st := shipAs(commitMid); st == 426 {
		t.Fatal("hosts on 1.1.0 were locked out: by the staged rollout, or by the unsigned 5.0.0 in the data folder")
	}
	if resp, err := host(commitMid).Do(ctx, http.MethodGet, "/v1/releases/latest", nil, nil); err != nil || resp.Status != 200 {
		t.Fatalf("latest: %v %v", resp, err)
	} else if m, err := release.Verify(strings.TrimSpace(pub), resp.Body); err != nil || m.Version != "1.2.0" {
		t.Fatalf("latest is %+v (%v), want the newest signed release 1.2.0", m, err)
	}
	// A host may not publish.
	if resp, _ := host(commitMid).Do(ctx, http.MethodPut, "/v1/releases/9.9.9/manifest.json", []byte("{}"), nil); resp.Status != 403 {
		t.Fatalf("a host publishing: %d", resp.Status)
	}
}

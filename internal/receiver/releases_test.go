package receiver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/wire"
)

// signedRelease signs a release of one binary with priv: the manifest and
// the binary's bytes.
func signedRelease(t *testing.T, priv, version, binary string) (manifest, bin string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cis490-linux-amd64")
	os.WriteFile(p, []byte(binary), 0o755)
	signed, _, err := release.Sign(priv, version, strings.Repeat("a", 40), 100, []string{p}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return string(signed), binary
}

// releaseFixture is a receiver whose releases are verified with key
// ("" for none); published counts the gate reloads.
func releaseFixture(t *testing.T, key string) (f *fixture, dir string, published *int) {
	dir, published = t.TempDir(), new(int)
	shelf := &release.Shelf{Store: release.Folder(dir), Key: key}
	f = newFixture(t, fixtureOpts{server: Options{Releases: shelf, Published: func() { *published++ }}})
	return f, dir, published
}

// refusal decodes a JSON error body.
func refusal(t *testing.T, r reply) wire.Error {
	t.Helper()
	var e wire.Error
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("not a JSON error: %q", r.body)
	}
	return e
}

// TestReleaseUploadVerified: an admin credential alone cannot publish a
// release: a manifest the release key did not sign is refused with
// bad-signature and nothing of it is stored, so latest stays the newest
// signed release and the gate is not reloaded.
func TestReleaseUploadVerified(t *testing.T) {
	priv, pub, _ := release.KeyGen()
	otherPriv, _, _ := release.KeyGen()
	f, dir, published := releaseFixture(t, pub)
	admin, host := f.admin("alice"), f.host("lab-1")
	good, bin := signedRelease(t, priv, "1.0.0", "binary 1.0.0")
	if r := f.do(admin, "PUT", "/v1/releases/1.0.0/cis490-linux-amd64", bin, nil); r.status != 201 {
		t.Fatalf("upload a binary: %d %s", r.status, r.body)
	}
	if r := f.do(admin, "PUT", "/v1/releases/1.0.0/manifest.json", good, nil); r.status != 201 || *published != 1 {
		t.Fatalf("upload a signed manifest: %d %s, gate reloaded %d times", r.status, r.body, *published)
	}

	otherKey, _ := signedRelease(t, otherPriv, "2.0.0", "binary 2.0.0")
	forVersion, _ := signedRelease(t, priv, "1.0.1", "binary 1.0.1")
	var s release.Signed
	json.Unmarshal([]byte(good), &s)
	payload, _ := base64.StdEncoding.DecodeString(s.Payload)
	forged := strings.Replace(string(payload), `"version":"1.0.0"`, `"version":"2.0.0"`, 1)
	unsigned, _ := json.Marshal(release.Signed{Payload: base64.StdEncoding.EncodeToString([]byte(forged)), Signature: s.Signature})
	for _, tc := range []struct {
		name, body, want string
	}{
		{"junk", "{}", "not signed by the key whose public half is release_key"},
		{"not JSON", "hello", "does not verify"},
		{"unsigned payload", string(unsigned), "not signed by the key whose public half is release_key"},
		{"another key", otherKey, "not signed by the key whose public half is release_key"},
		{"another version's", forVersion, "signed for version 1.0.1"},
		{"too large", strings.Repeat(" ", 1<<20), "larger than any signed manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(admin, "PUT", "/v1/releases/2.0.0/manifest.json", tc.body, nil)
			e := refusal(t, r)
			if r.status != http.StatusUnprocessableEntity || e.Reason != wire.ReasonBadSignature || !strings.Contains(e.Error, tc.want) || !strings.Contains(e.Error, "nothing stored") {
				t.Fatalf("answer %d %+v, want 422 bad-signature saying %q", r.status, e, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "2.0.0", release.ManifestFile)); err == nil {
				t.Fatal("a refused manifest was stored")
			}
		})
	}
	if *published != 1 {
		t.Errorf("refused uploads reloaded the gate (%d reloads)", *published)
	}
	// A published release's binary cannot be swapped for another one
	// (hosts would refuse it and could not update); the same bytes again
	// (a rollout widened) are taken.
	r := f.do(admin, "PUT", "/v1/releases/1.0.0/cis490-linux-amd64", "binary 1.0.0 with something added", nil)
	if e := refusal(t, r); r.status != 422 || e.Reason != wire.ReasonBadSignature || !strings.Contains(e.Error, "new version") {
		t.Fatalf("a published release's binary swapped: %d %+v", r.status, e)
	}
	if got := f.do(host, "GET", "/v1/releases/1.0.0/cis490-linux-amd64", "", nil); got.body != bin {
		t.Fatalf("the stored binary after a refused swap: %q", got.body)
	}
	if r := f.do(admin, "PUT", "/v1/releases/1.0.0/cis490-linux-amd64", bin, nil); r.status != 201 {
		t.Fatalf("the same binary again: %d %s", r.status, r.body)
	}

	// An unverified manifest already on disk (an old data folder) is not
	// offered: latest is the newest one that verifies.
	os.MkdirAll(filepath.Join(dir, "3.0.0"), 0o755)
	os.WriteFile(filepath.Join(dir, "3.0.0", release.ManifestFile), []byte("{}"), 0o644)
	if got := f.do(host, "GET", "/v1/releases/latest", "", nil); got.status != 200 || got.body != good {
		t.Fatalf("latest with an unverified newer manifest on disk: %d %s", got.status, got.body)
	}
	if got := f.do(host, "GET", "/v1/releases/3.0.0/manifest.json", "", nil); got.status != 404 {
		t.Fatalf("an unverified manifest was served: %d %s", got.status, got.body)
	}
	var reasons []string
	for _, l := range f.indexLines() {
		reasons = append(reasons, l.Reason)
	}
	if !strings.Contains(strings.Join(reasons, " "), wire.ReasonBadSignature) {
		t.Errorf("the index does not record the refusals' reason: %v", reasons)
	}
}

// TestReleaseUploadWithoutKey: a receiver without release_key takes no
// release and says what to set where; it offers none to hosts.
func TestReleaseUploadWithoutKey(t *testing.T) {
	priv, _, _ := release.KeyGen()
	f, dir, published := releaseFixture(t, "")
	good, bin := signedRelease(t, priv, "1.0.0", "binary 1.0.0")
	for file, body := range map[string]string{release.ManifestFile: good, "cis490-linux-amd64": bin} {
		r := f.do(f.admin("alice"), "PUT", "/v1/releases/1.0.0/"+file, body, nil)
		if e := refusal(t, r); r.status != 403 || e.Reason != wire.ReasonNoReleaseKey || !strings.Contains(e.Error, "set release_key in receiver.toml") {
			t.Fatalf("upload %s without release_key: %d %+v", file, r.status, e)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 || *published != 0 {
		t.Fatalf("stored without release_key: %v, %d gate reloads", ents, *published)
	}
	// A release stored before (an old data folder) is not offered either.
	os.MkdirAll(filepath.Join(dir, "1.0.0"), 0o755)
	os.WriteFile(filepath.Join(dir, "1.0.0", release.ManifestFile), []byte(good), 0o644)
	r := f.do(f.host("lab-1"), "GET", "/v1/releases/latest", "", nil)
	if e := refusal(t, r); r.status != 404 || e.Reason != wire.ReasonNoRelease || !strings.Contains(e.Error, "no release_key") {
		t.Fatalf("latest without release_key: %d %+v", r.status, e)
	}
}

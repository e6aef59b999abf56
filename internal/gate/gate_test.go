package gate

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/release"
)

const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "2222222222222222222222222222222222222222"
	c3 = "3333333333333333333333333333333333333333"
	c4 = "4444444444444444444444444444444444444444"
	c5 = "5555555555555555555555555555555555555555"
)

// TestCheck: the newest n full releases pass, older known ones are stale,
// a release still rolling out neither counts nor locks anyone out, and a
// dev build or a missing stamp is told apart from stale.
func TestCheck(t *testing.T) {
	rel := []Release{{"1.0.0", c1, false}, {"1.1.0", c2, false}, {"1.2.0", c3, false}, {"1.3.0", c4, true}}
	g := New(rel, 2)
	for _, tc := range []struct{ commit, want string }{
		{c1, Stale},
		{c2, Pass},
		{strings.ToUpper(c2), Pass},
		{c3, Pass},
		{c4, Pass},
		{"", Unstamped},
		{c5, Unknown},
	} {
		if got := g.Check(tc.commit); got != tc.want {
			t.Errorf("Check(%.7s) = %q, want %q", tc.commit, got, tc.want)
		}
	}
	if got, want := g.Header(), "1.3.0 "+c4+", 1.2.0 "+c3+", 1.1.0 "+c2; got != want {
		t.Errorf("Header() = %q, want %q", got, want)
	}
	if got, want := g.Summary(), "1.3.0 (444444444444) or 1.2.0 (333333333333) or 1.1.0 (222222222222)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if empty := New(nil, 2); empty.Check(c1) != Unknown || empty.Summary() != "" || empty.Header() != "" {
		t.Error("a gate with no releases should call every stamp unknown and accept nothing by name")
	}
}

// TestLoad: the gate a receiver runs is its configured releases and the
// ones published to it that the release key verifies, newest published
// last; what is not a release (a stray folder, a manifest under another
// version's name, one unsigned or signed by another key, as an old data
// folder may hold) is skipped with a warning naming it.
func TestLoad(t *testing.T) {
	releases := t.TempDir()
	priv, pub, err := release.KeyGen()
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, _, err := release.KeyGen()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cis490-linux-amd64")
	os.WriteFile(bin, []byte("binary"), 0o755)
	store := func(dirName string, manifest []byte) {
		d := filepath.Join(releases, dirName)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, release.ManifestFile), manifest, 0o644)
	}
	publish := func(key, dirName, version, commit string, rollout int) {
		t.Helper()
		signed, _, err := release.Sign(key, version, commit, rollout, []string{bin}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		store(dirName, signed)
	}
	publish(priv, "1.10.0", "1.10.0", c4, 100)
	publish(priv, "1.2.0", "1.2.0", c3, 100)
	publish(priv, "1.1.0", "1.1.0", c2, 100)      // configured already: counted once
	publish(priv, "9.9.9", "1.0.1", c5, 100)      // not under its own name
	publish(otherPriv, "7.0.0", "7.0.0", c5, 100) // another key
	store("8.0.0", []byte(`{"version":"8.0.0"}`)) // junk, unsigned
	os.MkdirAll(filepath.Join(releases, "junk"), 0o755)
	cfg := config.Gate{Accept: 2, Releases: []config.Release{{Version: "1.0.0", Commit: c1}, {Version: "1.1.0", Commit: c2}}}
	var logs bytes.Buffer
	g := Load(cfg, release.Shelf{Store: release.Folder(releases), Key: pub}, slog.New(slog.NewTextHandler(&logs, nil)))
	if got, want := g.Summary(), "1.10.0 (444444444444) or 1.2.0 (333333333333)"; got != want {
		t.Errorf("accepted %q, want %q (1.10.0 is newer than 1.2.0; unverified ones do not count)", got, want)
	}
	if g.Check(c5) != Unknown {
		t.Errorf("a manifest under another version's folder or signed by another key counted: %q", g.Check(c5))
	}
	if g.Check(c2) != Stale || g.Check(c1) != Stale {
		t.Errorf("the configured releases should be stale once two newer ones are published: %q %q", g.Check(c2), g.Check(c1))
	}
	for _, v := range []string{"9.9.9", "7.0.0", "8.0.0"} {
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "version="+v) {
			t.Errorf("no warning names the skipped release %s:\n%s", v, logs.String())
		}
	}
	// Without release_key nothing verifies: no published release gates a
	// host (only the configured ones), and the log says why.
	logs.Reset()
	unkeyed := Load(cfg, release.Shelf{Store: release.Folder(releases)}, slog.New(slog.NewTextHandler(&logs, nil)))
	if unkeyed.Check(c1) != Pass || unkeyed.Check(c4) != Unknown {
		t.Errorf("without release_key, published releases gated: %q %q", unkeyed.Check(c1), unkeyed.Check(c4))
	}
	if !strings.Contains(logs.String(), "version=1.10.0") || !strings.Contains(logs.String(), "no release_key") {
		t.Errorf("without release_key, the skipped releases were not named with why:\n%s", logs.String())
	}
	if none := Load(config.Gate{Accept: 1}, release.Shelf{Store: release.Folder(t.TempDir()), Key: pub}, slog.New(slog.DiscardHandler)); none.Summary() != "" {
		t.Errorf("nothing configured or published, yet accepted %q", none.Summary())
	}
}

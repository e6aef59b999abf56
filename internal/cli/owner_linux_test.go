package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cis490/cis490/internal/testenv"
)

// receiverUID is the user data_dir belongs to in these tests (nobody).
const receiverUID = 65534

// dataOwnedByReceiver makes a CA under a data_dir that belongs to the
// receiver's user, as in production, and returns the config and data_dir.
func dataOwnedByReceiver(t *testing.T) (cfg, data string) {
	t.Helper()
	testenv.Require(t, testenv.Root()) // to give data_dir to another user
	dir, cfg := withCA(t)
	// The test's folders are root's 0700: the receiver's user must reach
	// data_dir through them.
	for p := dir; p != filepath.Dir(p) && strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data = filepath.Join(dir, "data")
	err := filepath.Walk(data, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, receiverUID, receiverUID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, data
}

// rootsFile is a file of root's outside data_dir, and what it holds.
func rootsFile(t *testing.T, dir string) (string, string) {
	t.Helper()
	p := filepath.Join(dir, "shadow")
	if err := os.WriteFile(p, []byte("root's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, "root's own\n"
}

// TestRootAdminCommandsFollowNoPlantedSymlink: the receiver's user owns
// data_dir and may plant symlinks in it; an admin command run as root
// must not write through them to root's files. It refuses, saying so,
// and the files outside are untouched.
func TestRootAdminCommandsFollowNoPlantedSymlink(t *testing.T) {
	t.Run("ledger linked to a file of root's", func(t *testing.T) {
		cfg, data := dataOwnedByReceiver(t)
		outside, was := rootsFile(t, t.TempDir())
		ledger := filepath.Join(data, "ca", "issued.jsonl")
		os.Remove(ledger)
		if err := os.Symlink(outside, ledger); err != nil {
			t.Fatal(err)
		}
		code, out, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", filepath.Join(t.TempDir(), "lab-1"))
		if code != 1 || !strings.Contains(errs, "look for a symlink planted") {
			t.Fatalf("ca issue through a planted ledger link: exit %d %q %q", code, out, errs)
		}
		if b, _ := os.ReadFile(outside); string(b) != was {
			t.Fatalf("root's file now holds %q", b)
		}
	})
	t.Run("ca folder linked to a folder of root's", func(t *testing.T) {
		cfg, data := dataOwnedByReceiver(t)
		outsideDir := t.TempDir() // root's, 0700
		outside, was := rootsFile(t, outsideDir)
		ca := filepath.Join(data, "ca")
		if err := os.Rename(ca, filepath.Join(data, "ca.moved")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outsideDir, ca); err != nil {
			t.Fatal(err)
		}
		code, out, errs := run(t, "host", "remove", "lab-1", "--config", cfg)
		if code != 1 || !strings.Contains(errs, "look for a symlink planted") {
			t.Fatalf("host remove through a planted ca/ link: exit %d %q %q", code, out, errs)
		}
		if b, _ := os.ReadFile(outside); string(b) != was {
			t.Fatalf("root's file now holds %q", b)
		}
		ents, _ := os.ReadDir(outsideDir)
		if len(ents) != 1 {
			t.Fatalf("root's folder gained files: %v", ents)
		}
	})
	t.Run("fleet-health folder linked to a folder of root's", func(t *testing.T) {
		cfg, data := dataOwnedByReceiver(t)
		outsideDir := t.TempDir() // root's, 0700
		if err := os.Symlink(outsideDir, filepath.Join(data, "fleet-health")); err != nil {
			t.Fatal(err)
		}
		code, out, errs := run(t, "silence", "add", "--config", cfg, "--host", "lab-1", "--for", "1h", "--reason", "r")
		if code != 1 || !strings.Contains(errs, "look for a symlink planted") {
			t.Fatalf("silence add through a planted fleet-health/ link: exit %d %q %q", code, out, errs)
		}
		if ents, _ := os.ReadDir(outsideDir); len(ents) != 0 {
			t.Fatalf("root's folder gained files: %v", ents)
		}
	})
}

// TestRootAdminCommandLeavesFilesToTheReceiver: what a root-run admin
// command writes in data_dir belongs to data_dir's owner, or the
// receiver could not read its ledger, tokens or revocation list.
func TestRootAdminCommandLeavesFilesToTheReceiver(t *testing.T) {
	cfg, data := dataOwnedByReceiver(t)
	if code, _, errs := run(t, "ca", "issue", "--config", cfg, "--host", "lab-1", "--out", filepath.Join(t.TempDir(), "lab-1")); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := run(t, "host", "remove", "lab-1", "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	// The receiver reads, and renews, its own certificate and key.
	if code, _, errs := run(t, "ca", "server-cert", "--config", cfg, "--server-name", "lab-pi.local"); code != 0 {
		t.Fatal(errs)
	}
	// The detector's timer, as the receiver's user, rewrites the
	// silences' folder and lock.
	if code, _, errs := run(t, "silence", "add", "--config", cfg, "--host", "lab-1", "--for", "1h", "--reason", "removed"); code != 0 {
		t.Fatal(errs)
	}
	if _, err := os.Stat(filepath.Join(data, "fleet-health", "silences.json")); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if uid := ownerOf(info); uid != receiverUID {
			t.Errorf("%s belongs to uid %d", p, uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ownerOf(info os.FileInfo) int { return int(info.Sys().(*syscall.Stat_t).Uid) }

// TestRootBackupAndRestoreActAsTheOwner: `ca backup` run as root reads
// data_dir as its owner, so a planted link to a file of root's is refused
// rather than copied into the archive; `ca restore` run as root leaves
// files the receiver's user can read.
func TestRootBackupAndRestoreActAsTheOwner(t *testing.T) {
	cfg, data := dataOwnedByReceiver(t)
	backup := filepath.Join(t.TempDir(), "trust.tar.gz")
	if code, _, errs := run(t, "ca", "backup", "--config", cfg, "--out", backup); code != 0 {
		t.Fatalf("ca backup as root: %s", errs)
	}

	// Restore into a fresh data_dir of the receiver's user.
	fresh := filepath.Join(filepath.Dir(data), "fresh")
	if err := os.Mkdir(fresh, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Lchown(fresh, receiverUID, receiverUID)
	freshCfg := filepath.Join(filepath.Dir(cfg), "fresh.toml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(freshCfg, []byte(strings.Replace(string(b), `data_dir = "data"`, `data_dir = "fresh"`, 1)), 0o644)
	if code, _, errs := run(t, "ca", "restore", "--config", freshCfg, "--from", backup); code != 0 {
		t.Fatalf("ca restore as root: %s", errs)
	}
	err := filepath.Walk(fresh, func(p string, info os.FileInfo, err error) error {
		if err == nil && ownerOf(info) != receiverUID {
			t.Errorf("restored %s belongs to uid %d; the receiver could not read it", p, ownerOf(info))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// A planted link in the original is not followed with root's rights.
	outside, _ := rootsFile(t, t.TempDir())
	ledger := filepath.Join(data, "ca", "issued.jsonl")
	os.Remove(ledger)
	if err := os.Symlink(outside, ledger); err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(t.TempDir(), "again.tar.gz")
	code, _, errs := run(t, "ca", "backup", "--config", cfg, "--out", again)
	if code != 1 || !strings.Contains(errs, "look for a symlink planted") {
		t.Fatalf("ca backup through a planted link: exit %d %q; want a refusal", code, errs)
	}
	if _, err := os.Stat(again); err == nil {
		t.Fatal("a refused backup left an archive behind")
	}
}

// TestRootIndexReadsTheReceiversFiles: `index` run as root reads a
// data_dir that belongs to the receiver's user and leaves it as it was:
// nothing written, nothing given to root.
func TestRootIndexReadsTheReceiversFiles(t *testing.T) {
	testenv.Require(t, testenv.Root())
	cfg, data := indexData(t)
	err := filepath.Walk(data, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, receiverUID, receiverUID)
	})
	if err != nil {
		t.Fatal(err)
	}
	before := tree(t, data)
	code, out, errs := run(t, "index", "--config", cfg, "--since", "2026-11-26T00:00:00Z")
	if code != 0 || strings.Count(out, "\n") != 10 {
		t.Fatalf("exit %d, %d lines: %s", code, strings.Count(out, "\n"), errs)
	}
	if after := tree(t, data); !slices.Equal(before, after) {
		t.Errorf("data_dir changed:\nbefore %v\nafter  %v", before, after)
	}
}

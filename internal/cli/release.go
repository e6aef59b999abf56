package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

func runRelease(ctx context.Context, env *Env, args []string) error {
	return runGroup(ctx, env, "release", []subcommand{
		{"keygen", "make the Ed25519 release key (--out FILE) and print its public key", releaseKeygen},
		{"sign", "sign binaries into a release folder (--key, --version, --commit, --out)", releaseSign},
		{"publish", "upload a signed release to the receiver as an admin (--from DIR)", releasePublish},
	}, args)
}

func releaseKeygen(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "release keygen", "--out release.key", "Makes the Ed25519 release key (0600; keep it off the receiver) and prints the public key hosts pin (release_key in lab-host.toml).")
	out := fs.String("out", "", "where to write the private key")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("give --out FILE")
	}
	priv, pub, err := release.KeyGen()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the release key: %w", err)
	}
	if _, err := f.WriteString(priv + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", pub)
	fmt.Fprintf(env.Stderr, "release key in %s; the line above is its public key: put it in every lab-host.toml as release_key\n", *out)
	return nil
}

func releaseSign(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "release sign", "--key release.key --version V --commit C [--rollout 100] --out DIR BINARY...",
		`Signs a release where the release key is kept (not on the receiver): a manifest
of the version, its commit, the rollout percentage and each binary's sha256
and size (binaries named cis490-linux-amd64, -arm64, -armv7), written with the
binaries into DIR/VERSION for `+"`release publish`"+`.`)
	keyPath := fs.String("key", "", "the release key (from release keygen)")
	version := fs.String("version", "", "MAJOR.MINOR.PATCH")
	commit := fs.String("commit", "", "the full git commit the binaries were built from")
	rollout := fs.Int("rollout", 100, "percent of hosts that take it (a stable hash of the host name)")
	out := fs.String("out", "", "where to write the release")
	rest := args
	var bins []string
	for len(rest) > 0 { // flags and binaries in any order
		if err := parse(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		bins, rest = append(bins, fs.Arg(0)), fs.Args()[1:]
	}
	if *keyPath == "" || *out == "" || len(bins) == 0 {
		return usagef("give --key, --version, --commit, --out and at least one binary")
	}
	key, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	signed, m, err := release.Sign(string(key), *version, *commit, *rollout, bins, time.Now())
	if err != nil {
		return err
	}
	dir := filepath.Join(*out, m.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, b := range bins {
		data, err := os.ReadFile(b)
		if err != nil {
			return err
		}
		if err := vfs.WriteFileAtomic(vfs.OS{}, filepath.Join(dir, filepath.Base(b)), data, 0o644); err != nil {
			return err
		}
	}
	if err := vfs.WriteFileAtomic(vfs.OS{}, filepath.Join(dir, release.ManifestFile), signed, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "signed %s (%s, %d%% rollout, %d platform(s)) in %s\n", m.Version, m.Commit[:12], m.Rollout, len(m.Artifacts), dir)
	return nil
}

func releasePublish(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "release publish", "--from DIR/VERSION [--admin DIR] [--receiver URL]",
		"Uploads a signed release (its binaries, then its manifest) to the receiver as an admin; the receiver takes it only when its release_key verifies the manifest.")
	from := fs.String("from", "", "the release folder release sign wrote (DIR/VERSION)")
	adminDir := fs.String("admin", envOr("CIS490_ADMIN", "."), "admin bundle folder")
	recv := fs.String("receiver", "", "receiver URL (default: the bundle's receiver.url)")
	if err := parse(fs, args); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(*from, release.ManifestFile))
	if err != nil {
		return fmt.Errorf("no signed release in %s: %w", *from, err)
	}
	m, err := release.Read(b)
	if err != nil {
		return err
	}
	c, err := adminClient(env, *adminDir, *recv, 10*time.Minute)
	if err != nil {
		return err
	}
	defer c.Close()
	put := func(name string) error {
		data, err := os.ReadFile(filepath.Join(*from, name))
		if err != nil {
			return err
		}
		resp, err := c.Do(ctx, http.MethodPut, wire.ReleasePath(m.Version, name), data, nil)
		if err != nil {
			return err
		}
		return resp.Err()
	}
	for _, a := range m.Artifacts {
		if err := put(a.File); err != nil {
			return fmt.Errorf("upload %s: %w", a.File, err)
		}
	}
	if err := put(release.ManifestFile); err != nil { // last: the release exists once it is complete
		return fmt.Errorf("upload the manifest: %w", err)
	}
	fmt.Fprintf(env.Stdout, "published %s (%d%% rollout)\n", m.Version, m.Rollout)
	return nil
}

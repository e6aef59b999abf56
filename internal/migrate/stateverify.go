package migrate

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/token"
)

// verifyState checks that the backend holds everything of the folder's
// state. The backend may hold more (a receiver may already run on it), so
// each check is "the folder's is there", never "the two are equal".
func verifyState(ctx context.Context, dir datadir.Dir, b *pgs3.Backend, out io.Writer) error {
	for _, check := range []func(context.Context, datadir.Dir, *pgs3.Backend) (string, error){
		verifyTokens, verifyLedger, verifyRevoked, verifyHostHealth, verifyReleases, verifyRemovals, verifyDetector,
	} {
		said, err := check(ctx, dir, b)
		if err != nil {
			return fmt.Errorf("verify %w", err)
		}
		fmt.Fprintf(out, "verified: %s\n", said)
	}
	return nil
}

// verifyTokens: every hash in the folder is in the backend, revoked if
// revoked here, so every host keeps its credentials and no revoked token
// comes back.
func verifyTokens(ctx context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src, err := token.ReadEntries(dir.Tokens())
	if err != nil {
		return "", fmt.Errorf("tokens: read the token file: %w", err)
	}
	toks, err := b.Tokens(ctx)
	if err != nil {
		return "", fmt.Errorf("tokens: %w", err)
	}
	dst, err := toks.Entries(ctx)
	if err != nil {
		return "", fmt.Errorf("tokens: %w", err)
	}
	have := make(map[string]token.Entry, len(dst))
	for _, e := range dst {
		have[e.SHA256] = e
	}
	for _, e := range src {
		// The ID (a prefix of the hash) names it, never the token.
		got, ok := have[strings.ToLower(e.SHA256)]
		if !ok {
			return "", fmt.Errorf("tokens: the %s token of %s (ID %.12s) is not in the backend", e.Kind, e.Name, e.SHA256)
		}
		if e.Revoked && !got.Revoked {
			return "", fmt.Errorf("tokens: the %s token of %s (ID %.12s) is revoked here but not in the backend", e.Kind, e.Name, e.SHA256)
		}
	}
	return fmt.Sprintf("all %d token hashes (%d in the backend)", len(src), len(dst)), nil
}

// verifyLedger: every certificate the folder's ledger lists is in the
// backend's.
func verifyLedger(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src, err := pki.Ledger(dir.Issued())
	if err != nil {
		return "", fmt.Errorf("ledger: read the CA's ledger: %w", err)
	}
	dst, err := b.Trust().Ledger()
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	have := make(map[string]bool, len(dst))
	for _, c := range dst {
		have[c.Serial] = true
	}
	for _, c := range src {
		if !have[c.Serial] {
			return "", fmt.Errorf("ledger: certificate %s of %s is not in the backend's ledger", c.Serial, c.Name)
		}
	}
	return fmt.Sprintf("all %d certificates of the CA's ledger", len(src)), nil
}

// verifyRevoked: every serial revoked here is revoked there.
func verifyRevoked(ctx context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src, err := pki.ReadRevoked(dir.Revoked())
	if err != nil {
		return "", fmt.Errorf("revoked: read the revocation list: %w", err)
	}
	revs, err := b.Revocations(ctx)
	if err != nil {
		return "", fmt.Errorf("revoked: %w", err)
	}
	for _, r := range src {
		if !revs.HasSerial(r.Serial) {
			return "", fmt.Errorf("revoked: certificate %s of %s is revoked here but not in the backend", r.Serial, r.Host)
		}
	}
	return fmt.Sprintf("all %d revoked serials", len(src)), nil
}

// verifyHostHealth: every host's snapshot is there, as new as here or
// newer.
func verifyHostHealth(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src, err := hosthealth.Folder(dir.HostHealth()).List()
	if err != nil {
		return "", fmt.Errorf("host-health: list the doctor snapshots: %w", err)
	}
	have, err := received(b.HostHealth())
	if err != nil {
		return "", fmt.Errorf("host-health: %w", err)
	}
	for _, e := range src {
		if at, ok := have[e.Host]; !ok || at.Before(e.ReceivedAt) {
			return "", fmt.Errorf("host-health: %s's snapshot of %s is not in the backend", e.Host, e.ReceivedAt.Format("2006-01-02 15:04:05"))
		}
	}
	return fmt.Sprintf("all %d hosts' doctor snapshots", len(src)), nil
}

// verifyReleases: every version is published in the backend, each of its
// files with the size it has here.
func verifyReleases(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src := release.Folder(dir.Releases())
	versions, err := localVersions(src)
	if err != nil {
		return "", fmt.Errorf("releases: %w", err)
	}
	dst := b.Releases()
	files := 0
	for _, v := range versions {
		names, err := releaseFiles(src, v)
		if err != nil {
			return "", fmt.Errorf("releases: %w", err)
		}
		for _, f := range names {
			want, err := fileSize(src, v, f)
			if err != nil {
				return "", fmt.Errorf("releases: %s of %s: %w", f, v, err)
			}
			got, err := fileSize(dst, v, f)
			if err != nil || got != want {
				return "", fmt.Errorf("releases: %s of %s is %d bytes here, %d in the backend (%v)", f, v, want, got, err)
			}
			files++
		}
	}
	return fmt.Sprintf("all %d releases, %d files, by size", len(versions), files), nil
}

// verifyRemovals: every host removed here is removed there.
func verifyRemovals(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src, err := fleethealth.RemovedFile(dir).Removed()
	if err != nil {
		return "", fmt.Errorf("removed hosts: %w", err)
	}
	have, err := b.Removals().Removed()
	if err != nil {
		return "", fmt.Errorf("removed hosts: %w", err)
	}
	for host := range src {
		if _, ok := have[host]; !ok {
			return "", fmt.Errorf("removed hosts: %s is removed here but not in the backend", host)
		}
	}
	return fmt.Sprintf("all %d removed hosts", len(src)), nil
}

// verifyDetector: the backend has a state and silences if the folder
// does, and at least as many alerts.
func verifyDetector(ctx context.Context, dir datadir.Dir, b *pgs3.Backend) (string, error) {
	src, dst := fleethealth.Files(string(dir), ""), b.Detector()
	for _, blob := range []struct {
		name     string
		src, dst func() ([]byte, error)
	}{
		{"state", src.LoadState, dst.LoadState},
		{"silences", src.LoadSilences, dst.LoadSilences},
	} {
		here, err := blob.src()
		if err != nil {
			return "", fmt.Errorf("detector: read its %s: %w", blob.name, err)
		}
		there, err := blob.dst()
		if err != nil {
			return "", fmt.Errorf("detector: %w", err)
		}
		if here != nil && there == nil {
			return "", fmt.Errorf("detector: its %s is not in the backend", blob.name)
		}
	}
	here, err := readAlerts(ctx, src, -1)
	if err != nil {
		return "", fmt.Errorf("detector: read the alerts: %w", err)
	}
	there, err := readAlerts(ctx, dst, -1)
	if err != nil {
		return "", fmt.Errorf("detector: %w", err)
	}
	if len(there) < len(here) {
		return "", fmt.Errorf("detector: %d alerts here, only %d in the backend", len(here), len(there))
	}
	return fmt.Sprintf("the detector's state and silences, and %d alerts (%d in the backend)", len(here), len(there)), nil
}

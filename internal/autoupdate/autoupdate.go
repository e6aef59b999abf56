// Package autoupdate is `cis490 autoupdate`: fetch the latest signed
// release, verify it against the pinned release key, take it only when
// newer and when this host is in its rollout, install it beside the
// current one behind a symlink, restart the shipper, and roll back when
// the new binary's doctor fails a check the old one ran and passed — also
// after a crash half-way, from a marker written before the swap. A check
// only the new binary has is reported when it fails, not held against the
// update: it sees more, it did not break anything.
package autoupdate

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

// Options configure one run.
type Options struct {
	Client    *transport.Client
	PublicKey string // the pinned release key (release_key in lab-host.toml)
	Host      string
	Platform  string // linux-amd64, linux-arm64 or linux-armv7
	Current   string // the running version
	// Root holds the installed versions (Root/<version>/cis490) and the
	// symlink Root/current the packaged path points through.
	Root string
	// Restart restarts the shipper; Doctor runs a binary's doctor.
	Restart func(ctx context.Context) error
	Doctor  func(ctx context.Context, binary string) (Checks, error)
	Now     func() time.Time
}

// Outcome of a run, also kept in Root/last-update.json for the doctor.
type Outcome struct {
	At      time.Time `json:"at"`
	From    string    `json:"from"`
	To      string    `json:"to,omitempty"`
	Result  string    `json:"result"` // current, not-in-rollout, updated, rolled-back, refused, unmanaged
	Detail  string    `json:"detail,omitempty"`
	Failing []string  `json:"new_failures,omitempty"`
}

// Checks is what a doctor run found: the names of the checks it ran and of
// those that failed.
type Checks struct {
	Ran     []string
	Failing []string
}

// marker is written (atomically) before the swap and removed after the
// verdict: found on a later run, the verdict is made then.
type marker struct {
	From   string   `json:"from"` // the version current pointed to
	To     string   `json:"to"`
	Before []string `json:"before"` // failing checks before
	// Known is every check the old doctor ran; absent in markers from
	// releases before it, or when the old doctor could not run, and then
	// every failure of the new one counts.
	Known []string `json:"known,omitempty"`
}

func (o *Options) current() string { return filepath.Join(o.Root, "current") }
func (o *Options) markerPath() string {
	return filepath.Join(o.Root, "update-in-progress.json")
}

// Binary is the installed binary of version.
func (o *Options) Binary(version string) string { return filepath.Join(o.Root, version, "cis490") }

// Bucket is the host's place in a rollout: 0-99, stable for the host.
func Bucket(host string) int {
	h := fnv.New32a()
	h.Write([]byte(host))
	return int(h.Sum32() % 100)
}

// Run updates when there is something to update to.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if owner, ok := storeOwner(o.Root); !ok {
		// Whoever may write there could swap the binary root runs. A
		// receiver keeps its data (its user's) where lab hosts keep their
		// versions: on such a machine the binary is the receiver's own,
		// updated with its installer.
		return &Outcome{At: o.Now().UTC(), From: o.Current, Result: "unmanaged",
			Detail: fmt.Sprintf("%s belongs to uid %d, not root: autoupdate keeps no binaries there (a receiver's data folder?); update this machine with install-receiver.sh", filepath.Dir(o.Root), owner)}, nil
	}
	if err := os.MkdirAll(o.Root, 0o755); err != nil {
		return nil, err
	}
	if out, done, err := recoverCrash(ctx, &o); done || err != nil {
		return out, err
	}
	out := &Outcome{At: o.Now().UTC(), From: o.Current}
	resp, err := o.Client.Do(ctx, http.MethodGet, wire.PathReleasesLatest, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch the latest release: %w", err)
	}
	if resp.Status == http.StatusNotFound {
		out.Result, out.Detail = "current", "no release published"
		return out, o.keep(out)
	}
	if err := resp.Err(); err != nil {
		return nil, fmt.Errorf("fetch the latest release: %w", err)
	}
	m, err := release.Verify(o.PublicKey, resp.Body)
	if err != nil {
		return o.refused(out, err)
	}
	out.To = m.Version
	if !release.Newer(m.Version, o.Current) {
		out.Result = "current"
		if release.Newer(o.Current, m.Version) {
			out.Detail = "the latest release is older than this one: no downgrade"
		}
		return out, o.keep(out)
	}
	if Bucket(o.Host) >= m.Rollout {
		out.Result, out.Detail = "not-in-rollout", fmt.Sprintf("%s is rolling out to %d%% of hosts; this one is at %d", m.Version, m.Rollout, Bucket(o.Host))
		return out, o.keep(out)
	}
	art, ok := m.Artifacts[o.Platform]
	if !ok {
		return o.refused(out, fmt.Errorf("%s has no binary for %s", m.Version, o.Platform))
	}
	var mismatch *mismatchError
	if err := o.download(ctx, m.Version, art); errors.As(err, &mismatch) {
		return o.refused(out, mismatch.err)
	} else if err != nil {
		return nil, err
	}
	from, _ := os.Readlink(o.current())
	mk := marker{From: from, To: m.Version}
	// An old binary that cannot run its doctor leaves Known empty: the new
	// one is judged alone.
	if before, err := o.Doctor(ctx, o.Binary(o.Current)); err == nil {
		mk.Before, mk.Known = before.Failing, before.Ran
	}
	if err := writeJSON(o.markerPath(), mk); err != nil {
		return nil, err
	}
	if err := swap(o.current(), m.Version); err != nil {
		return nil, err
	}
	return o.verdict(ctx, out, mk)
}

// verdict restarts on the new binary and keeps it, or rolls back.
func (o *Options) verdict(ctx context.Context, out *Outcome, mk marker) (*Outcome, error) {
	if err := o.Restart(ctx); err != nil {
		return o.rollback(ctx, out, mk, fmt.Sprintf("the shipper did not restart on %s: %v", mk.To, err), nil)
	}
	after, err := o.Doctor(ctx, o.Binary(mk.To))
	if err != nil {
		return o.rollback(ctx, out, mk, fmt.Sprintf("the doctor of %s did not run: %v", mk.To, err), nil)
	}
	regressed, unknown := newFailures(mk, after.Failing)
	if len(regressed) > 0 {
		return o.rollback(ctx, out, mk, fmt.Sprintf("the doctor of %s fails checks that passed before", mk.To), regressed)
	}
	os.Remove(o.markerPath())
	out.Result, out.To = "updated", mk.To
	if len(unknown) > 0 {
		out.Detail = fmt.Sprintf("kept: the checks that fail are new in %s (%s), the old doctor did not run them", mk.To, strings.Join(unknown, ", "))
	}
	return out, o.keep(out)
}

func (o *Options) rollback(ctx context.Context, out *Outcome, mk marker, why string, fresh []string) (*Outcome, error) {
	if mk.From != "" {
		if err := swap(o.current(), mk.From); err != nil {
			return nil, fmt.Errorf("roll back to %s: %w", mk.From, err)
		}
		if err := o.Restart(ctx); err != nil {
			return nil, fmt.Errorf("restart the shipper on %s after rolling back: %w", mk.From, err)
		}
	}
	os.Remove(o.markerPath())
	out.Result, out.To, out.Detail, out.Failing = "rolled-back", mk.To, why, fresh
	if err := o.keep(out); err != nil {
		return nil, err
	}
	return out, fmt.Errorf("rolled back from %s to %s: %s", mk.To, mk.From, why)
}

// recoverCrash makes the verdict a crash between the swap and the verdict
// left undone.
func recoverCrash(ctx context.Context, o *Options) (*Outcome, bool, error) {
	b, err := os.ReadFile(o.markerPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	var mk marker
	if err != nil || json.Unmarshal(b, &mk) != nil {
		os.Remove(o.markerPath())
		return nil, false, nil
	}
	out := &Outcome{At: o.Now().UTC(), From: mk.From, Detail: "finishing an update a crash interrupted"}
	if cur, _ := os.Readlink(o.current()); cur != mk.To {
		os.Remove(o.markerPath()) // the swap never happened
		return nil, false, nil
	}
	res, err := o.verdict(ctx, out, mk)
	return res, true, err
}

func (o *Options) refused(out *Outcome, err error) (*Outcome, error) {
	out.Result, out.Detail = "refused", err.Error()
	if kerr := o.keep(out); kerr != nil {
		return nil, kerr
	}
	return out, fmt.Errorf("update refused, nothing installed: %w", err)
}

// keep records the outcome for the next doctor report.
func (o *Options) keep(out *Outcome) error {
	return writeJSON(filepath.Join(o.Root, "last-update.json"), out)
}

// newFailures splits the checks the new doctor fails and the old one did
// not: regressed ones the old doctor ran (or all, when it is not known
// what it ran), and unknown ones it did not have.
func newFailures(mk marker, after []string) (regressed, unknown []string) {
	failed, ran := set(mk.Before), set(mk.Known)
	for _, a := range after {
		switch {
		case failed[a]:
		case len(mk.Known) > 0 && !ran[a]:
			unknown = append(unknown, a)
		default:
			regressed = append(regressed, a)
		}
	}
	sort.Strings(regressed)
	sort.Strings(unknown)
	return regressed, unknown
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// swap points the symlink link at target, atomically (a new link renamed
// over the old).
func swap(link, target string) error {
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		return err
	}
	return vfs.OS{}.SyncDir(filepath.Dir(link))
}

type mismatchError struct{ err error }

func (e *mismatchError) Error() string { return e.err.Error() }

// download streams the release's binary beside the others (hashing as it
// goes; a binary is tens of MB), and installs it under its version only
// when its size and sha256 are the signed ones, synced: a refused or
// half-downloaded binary is never where the link could point.
func (o *Options) download(ctx context.Context, version string, art release.Artifact) error {
	dest := o.Binary(version)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := dest + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	h := sha256.New()
	resp, n, err := o.Client.Fetch(ctx, wire.ReleasePath(version, art.File), io.MultiWriter(f, h), art.Size+1)
	if err == nil {
		err = resp.Err()
	}
	if err == nil {
		if merr := art.Matches(n, h.Sum(nil)); merr != nil {
			err = &mismatchError{merr}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(filepath.Dir(dest)) // only if empty: nothing of this version stays
		if _, ok := err.(*mismatchError); ok {
			return err
		}
		return fmt.Errorf("download %s: %w", art.File, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	return vfs.OS{}.SyncDir(filepath.Dir(dest))
}

// storeOwner: the folder above the version store (the nearest that
// exists) is root's or this user's, so nobody else can swap what it holds.
func storeOwner(root string) (uint32, bool) {
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err == nil {
			sys, ok := st.Sys().(*syscall.Stat_t)
			if !ok {
				return 0, true
			}
			return sys.Uid, sys.Uid == 0 || int(sys.Uid) == os.Geteuid()
		}
		if dir == filepath.Dir(dir) {
			return 0, true
		}
	}
}

func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.OS{}, p, append(b, '\n'), 0o644)
}

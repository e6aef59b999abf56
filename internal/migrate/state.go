package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/token"
)

// trustWait bounds the wait for the trust lock, which an enrollment or an
// admin command on a receiver already on the backend may hold a moment.
const trustWait = 2 * time.Minute

// A step copies one part of the state: read from the folder through its
// local implementation, written through pgs3. It returns its progress
// line and how many items it copied (0 when the backend had them all).
type step struct {
	name string
	copy func(ctx context.Context, dir datadir.Dir, b *pgs3.Backend) (line string, copied int, err error)
}

// steps are the state beside the streams and the index. Dashboard
// sessions are not among them: admins log in again.
var steps = []step{
	{"trust", copyTrust},
	{"host-health", copyHostHealth},
	{"releases", copyReleases},
	{"removed hosts", copyRemovals},
	{"detector", copyDetector},
}

// copyState runs every step, one progress line each, and counts what each
// copied in rep.State.
func copyState(ctx context.Context, dir datadir.Dir, b *pgs3.Backend, out io.Writer, rep *Report) error {
	rep.State = map[string]int{}
	total := 0
	for _, s := range steps {
		line, n, err := s.copy(ctx, dir, b)
		if err != nil {
			return fmt.Errorf("copy the %s: %w", s.name, err)
		}
		fmt.Fprint(out, line)
		rep.State[s.name] = n
		total += n
	}
	if total == 0 {
		fmt.Fprintf(out, "state: nothing new to copy (the backend has it all)\n")
	}
	fmt.Fprintf(out, "dashboard sessions: not copied (admins log in again)\n")
	return nil
}

// copyTrust copies the tokens, the CA's ledger and the revocation list
// under the trust lock, so no enrollment on a receiver already using the
// backend interleaves with the copy.
func copyTrust(ctx context.Context, dir datadir.Dir, b *pgs3.Backend) (string, int, error) {
	wait, cancel := context.WithTimeout(ctx, trustWait)
	unlock, err := b.Trust().Lock(wait)
	cancel()
	if err != nil {
		return "", 0, err
	}
	defer unlock()

	entries, err := token.ReadEntries(dir.Tokens())
	if err != nil {
		return "", 0, fmt.Errorf("read the token file: %w", err)
	}
	toks, err := b.Tokens(ctx)
	if err != nil {
		return "", 0, err
	}
	added, updated, err := toks.Import(entries)
	if err != nil {
		return "", 0, err
	}

	ledger, err := pki.Ledger(dir.Issued())
	if err != nil {
		return "", 0, fmt.Errorf("read the CA's ledger: %w", err)
	}
	issued, err := b.Trust().ImportLedger(ctx, ledger)
	if err != nil {
		return "", 0, err
	}

	list, err := pki.ReadRevoked(dir.Revoked())
	if err != nil {
		return "", 0, fmt.Errorf("read the revocation list: %w", err)
	}
	revs, err := b.Revocations(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("load the revocation list from PostgreSQL: %w", err)
	}
	var missing []pki.Revoked
	for _, r := range list {
		if !revs.HasSerial(r.Serial) {
			missing = append(missing, r)
		}
	}
	if err := b.Trust().Revoke(missing...); err != nil {
		return "", 0, err
	}
	line := fmt.Sprintf("tokens: %d hashes, %d added, %d updated (revoked or used since)\n", len(entries), added, updated) +
		fmt.Sprintf("ledger: %d certificates, %d added\n", len(ledger), issued) +
		fmt.Sprintf("revoked: %d serials, %d added\n", len(list), len(missing))
	return line, added + updated + issued + len(missing), nil
}

// copyHostHealth writes each snapshot the backend lacks or holds older:
// one a host sent to a receiver already on the backend is kept.
func copyHostHealth(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, int, error) {
	src, err := hosthealth.Folder(dir.HostHealth()).ReadAll()
	if err != nil {
		return "", 0, fmt.Errorf("read the doctor snapshots: %w", err)
	}
	dst := b.HostHealth()
	have, err := received(dst)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, s := range src {
		if at, ok := have[s.Host]; ok && !at.Before(s.ReceivedAt) {
			continue
		}
		if err := dst.Write(s.Host, s.Snapshot, s.ReceivedAt); err != nil {
			return "", 0, err
		}
		n++
	}
	return fmt.Sprintf("host-health: %d snapshots, %d copied\n", len(src), n), n, nil
}

// received is when each snapshot in st arrived, by host.
func received(st hosthealth.Store) (map[string]time.Time, error) {
	ents, err := st.List()
	if err != nil {
		return nil, err
	}
	m := make(map[string]time.Time, len(ents))
	for _, e := range ents {
		m[e.Host] = e.ReceivedAt
	}
	return m, nil
}

// copyReleases copies every version's files, the manifest last: a
// release exists once its manifest is stored, so an interrupted copy
// publishes nothing half there. A file the backend holds with the same
// size is skipped.
func copyReleases(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, int, error) {
	src := release.Folder(dir.Releases())
	versions, err := localVersions(src)
	if err != nil {
		return "", 0, err
	}
	dst := b.Releases()
	files, n := 0, 0
	for _, v := range versions {
		names, err := releaseFiles(src, v)
		if err != nil {
			return "", 0, err
		}
		for _, f := range names {
			copied, err := copyReleaseFile(src, dst, v, f)
			if err != nil {
				return "", 0, err
			}
			files++
			if copied {
				n++
			}
		}
	}
	return fmt.Sprintf("releases: %d versions, %d files, %d copied\n", len(versions), files, n), n, nil
}

// localVersions are the folder's releases, oldest first; a receiver that
// never had one has no folder.
func localVersions(src release.Store) ([]string, error) {
	versions, err := src.Versions()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the releases: %w", err)
	}
	slices.SortFunc(versions, func(a, b string) int {
		if release.Newer(b, a) {
			return -1
		}
		if release.Newer(a, b) {
			return 1
		}
		return 0
	})
	return versions, nil
}

// releaseFiles are the files of version in st: its artifacts that are
// there, then its manifest.
func releaseFiles(st release.Store, version string) ([]string, error) {
	r, _, err := st.Open(version, release.ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("open the manifest of release %s: %w", version, err)
	}
	signed, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("read the manifest of release %s: %w", version, err)
	}
	m, err := release.Read(signed)
	if err != nil {
		return nil, fmt.Errorf("read the manifest of release %s: %w", version, err)
	}
	var out []string
	for _, a := range m.Artifacts {
		if _, err := fileSize(st, version, a.File); err == nil {
			out = append(out, a.File)
		}
	}
	return append(out, release.ManifestFile), nil
}

// fileSize is the size of a release file in st.
func fileSize(st release.Store, version, file string) (int64, error) {
	r, size, err := st.Open(version, file)
	if err != nil {
		return 0, err
	}
	r.Close()
	return size, nil
}

func copyReleaseFile(src, dst release.Store, version, file string) (bool, error) {
	r, size, err := src.Open(version, file)
	if err != nil {
		return false, fmt.Errorf("open %s of release %s: %w", file, version, err)
	}
	defer r.Close()
	if have, err := fileSize(dst, version, file); err == nil && have == size {
		return false, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := dst.Put(version, file, r); err != nil {
		return false, err
	}
	return true, nil
}

// copyRemovals marks each host removed in the folder and not in the
// backend.
func copyRemovals(_ context.Context, dir datadir.Dir, b *pgs3.Backend) (string, int, error) {
	src, err := fleethealth.RemovedFile(dir).Removed()
	if err != nil {
		return "", 0, fmt.Errorf("read the removed hosts: %w", err)
	}
	dst := b.Removals()
	have, err := dst.Removed()
	if err != nil {
		return "", 0, err
	}
	n := 0
	for host, at := range src {
		if _, ok := have[host]; ok {
			continue
		}
		if err := dst.Mark(host, at); err != nil {
			return "", 0, err
		}
		n++
	}
	return fmt.Sprintf("removed hosts: %d, %d copied\n", len(src), n), n, nil
}

// copyDetector copies the detector's state, silences and alerts under its
// lease, as a run would take it. Each only into a backend that has none:
// a receiver already on it keeps newer state, and AppendAlerts is all or
// none, so the alerts were either all copied or not at all.
func copyDetector(ctx context.Context, dir datadir.Dir, b *pgs3.Backend) (string, int, error) {
	src := fleethealth.Files(string(dir), "")
	dst := b.Detector()
	unlock, err := dst.Lock()
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	n := 0
	var said []string
	for _, blob := range []struct {
		name       string
		load, have func() ([]byte, error)
		save       func([]byte) error
	}{
		{"state", src.LoadState, dst.LoadState, dst.SaveState},
		{"silences", src.LoadSilences, dst.LoadSilences, dst.SaveSilences},
	} {
		data, err := blob.load()
		if err != nil {
			return "", 0, fmt.Errorf("read the detector's %s: %w", blob.name, err)
		}
		have, err := blob.have()
		if err != nil {
			return "", 0, err
		}
		switch {
		case data == nil:
			said = append(said, blob.name+" none")
		case have != nil:
			said = append(said, blob.name+" already there")
		default:
			if err := blob.save(data); err != nil {
				return "", 0, err
			}
			said = append(said, blob.name+" copied")
			n++
		}
	}
	alerts, err := readAlerts(ctx, src, -1)
	if err != nil {
		return "", 0, fmt.Errorf("read the alerts: %w", err)
	}
	there, err := readAlerts(ctx, dst, 1)
	if err != nil {
		return "", 0, err
	}
	copied := 0
	if len(alerts) > 0 && len(there) == 0 {
		if err := dst.AppendAlerts(alerts); err != nil {
			return "", 0, err
		}
		copied = len(alerts)
		n++
	}
	return fmt.Sprintf("detector: %s, %s; %d alerts, %d copied\n", said[0], said[1], len(alerts), copied), n, nil
}

// errEnough stops a read of the alerts that has read as many as it needs.
var errEnough = errors.New("enough alerts read")

// readAlerts reads st's alerts, oldest first: all of them (limit < 0) or
// the first limit.
func readAlerts(ctx context.Context, st fleethealth.Store, limit int) ([]fleethealth.Alert, error) {
	var out []fleethealth.Alert
	_, err := st.AlertsSince(ctx, fleethealth.AlertCheckpoint{}, time.Time{}, func(a fleethealth.Alert) error {
		out = append(out, a)
		if len(out) == limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return out, err
}

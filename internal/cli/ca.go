package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

func runCA(ctx context.Context, env *Env, args []string) error {
	return runGroup(ctx, env, "ca", []subcommand{
		{"init", "make the fleet CA and the receiver's server certificate", runCAInit},
		{"server-cert", "re-issue the receiver's server certificate from the same CA for new names", runCAServerCert},
		{"issue", "issue a host bundle (--host NAME) or an admin certificate and token (--admin NAME)", runCAIssue},
		{"revoke", "revoke an admin's tokens and certificates (--admin NAME)", runCARevoke},
		{"backup", "write the CA, its ledger, tokens and revocations to one 0600 archive (--out FILE)", runCABackup},
		{"restore", "restore a `ca backup` archive into a fresh data_dir (--from FILE)", runCARestore},
	}, args)
}

func runCAInit(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ca init", "[--config receiver.toml] [--server-name NAME]...",
		"Makes the fleet CA and the receiver's server certificate (server auth only, for server_names and the\n--server-name names and addresses) in <data_dir>/ca, keys 0600.")
	path, _, load := serverNameFlags(fs)
	ifMissing := fs.Bool("if-missing", false, "exit 0 without a change when a CA is already there (installers, upgrades)")
	cfg, err := load(args)
	if err != nil {
		return err
	}
	ca, err := pki.Init(filepath.Dir(cfg.TLS.CA), cfg.ServerNames, time.Now())
	if errors.Is(err, pki.ErrCAExists) && *ifMissing {
		fmt.Fprintf(env.Stdout, "a fleet CA is already in %s; nothing made\n", filepath.Dir(cfg.TLS.CA))
		return nil
	}
	if errors.Is(err, pki.ErrCAExists) {
		// The names are what a newcomer gets wrong; the trust root is
		// what hosts already hold, so the fix that keeps it comes first.
		return fmt.Errorf("%w; to change the names the receiver's certificate covers, run `cis490 ca server-cert --config %s --server-name NAME` (hosts keep trusting it), and only to replace the fleet's trust root (every host then needs a new bundle) remove that folder first",
			err, *path)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "fleet CA created in %s\nserver certificate for %s\nCA fingerprint (sha256) %s\n",
		filepath.Dir(cfg.TLS.CA), strings.Join(cfg.ServerNames, ", "), ca.Fingerprint())
	return nil
}

func runCAIssue(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ca issue", "--host NAME | --admin NAME [--config receiver.toml] [--out DIR] [--state-dir DIR] [--source PATH]...",
		"Issues a host bundle (client certificate naming exactly that host, key, CA, host token, lab-host.toml)\nor, with --admin, an admin certificate and token, in a folder to copy to the host.")
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	host := fs.String("host", "", "host name to issue a bundle for")
	admin := fs.String("admin", "", "admin name to issue an admin certificate and token for")
	out := fs.String("out", "", "output folder (default ./<name>)")
	url := fs.String("receiver-url", "", "receiver URL written into lab-host.toml (default https://<first server name>:<port>)")
	lifetime := durationVar(fs, "lifetime", pki.HostLifetime, "certificate lifetime")
	layout := layoutFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*host == "") == (*admin == "") {
		return usagef("give exactly one of --host NAME or --admin NAME")
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	ca, err := pki.Load(filepath.Dir(cfg.TLS.CA))
	if err != nil {
		return err
	}
	ca.ServerNames = append(ca.ServerNames, cfg.ServerNames...)
	now := time.Now()
	name, kind := *host, token.KindHost
	if *admin != "" {
		name, kind = *admin, token.KindAdmin
	}
	canon, err := names.Host(name)
	if err != nil {
		return usagef("%q: %v", name, err)
	}
	certPEM, keyPEM, err := issueCert(ca, kind, canon, *lifetime, now)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = defaultBundleDir(kind, canon)
	}
	// A receiver configured outside an etc folder is someone trying cis490 in a
	// folder of their own: the host is this machine, run without root.
	where, local := *layout, !isSystemPath(*path)
	if local && kind == token.KindHost {
		if where, err = where.localDefaults(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create bundle folder: %w", err)
	}
	// The CA as loaded, not the file read again: as root, a file the
	// receiver's user swapped in would go into the bundle.
	caPEM := ca.CertPEM()
	// A host has one bundle: issuing it again (a lost or leaked one, a
	// reinstall) ends the earlier one, as enrolling again does. An admin
	// may hold several (`ca revoke --admin` ends them all).
	var g trust.Grant
	err = changeTrust(ctx, env, cfg, func(ctx context.Context, t *trust.Trust) (err error) {
		g, err = t.Issue(ctx, certPEM, now)
		return err
	})
	replaced := g.Replaced
	// From here a failure leaves the host with no working bundle: say so.
	revokedNote := func(err error) error {
		if replaced > 0 {
			return fmt.Errorf("%w (%s's earlier bundle is already revoked: run this again)", err, canon)
		}
		return err
	}
	if err != nil {
		return revokedNote(err)
	}
	u := *url
	if u == "" {
		u = defaultReceiverURL(cfg)
	}
	files := bundleFiles(kind, canon, bundle{cert: certPEM, key: keyPEM, ca: caPEM, token: g.Token}, u, cfg.ReleaseKey, where)
	for _, f := range files {
		if err := pki.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return revokedNote(err)
		}
	}
	sayIssued(env.Stdout, kind, canon, dir, now.Add(*lifetime), replaced > 0)
	if kind == token.KindHost {
		sayWhere(env.Stdout, dir, where, local)
	}
	return nil
}

// sayIssued tells the operator where the bundle is and what it replaced.
func sayIssued(w io.Writer, kind, canon, dir string, until time.Time, replaced bool) {
	fmt.Fprintf(w, "issued %s %s in %s (certificate valid until %s)\n", kind, canon, dir, until.UTC().Format(time.RFC3339))
	if replaced {
		fmt.Fprintf(w, "%s's earlier bundle is revoked: its token and certificate no longer work; the host ships again once this one is installed\n", canon)
	}
}

// sayWhere tells the operator how the host bundle in dir is used: copied
// to a lab host, or, made for this machine, run where it is.
func sayWhere(w io.Writer, dir string, where hostLayout, local bool) {
	if !local {
		fmt.Fprintf(w, "copy the folder to the host as /etc/cis490/ (keep host.key and token 0600)\n")
		return
	}
	state := where.stateDir
	if !filepath.IsAbs(state) {
		state = filepath.Join(dir, state)
	}
	fmt.Fprintf(w, "its lab-host.toml ships %s and keeps its state in %s; on this machine run: cis490 ship --config %s\n",
		strings.Join(where.sources, ", "), state, filepath.Join(dir, "lab-host.toml"))
}

// issueCert issues kind's certificate (token.KindHost or token.KindAdmin)
// naming canon.
func issueCert(ca *pki.CA, kind, canon string, lifetime time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if kind == token.KindHost {
		return ca.IssueHost(canon, lifetime, now)
	}
	return ca.IssueAdmin(canon, lifetime, now)
}

// defaultBundleDir is where a bundle goes without --out: an admin's
// folder is marked so it is not mistaken for a host's.
func defaultBundleDir(kind, canon string) string {
	if kind == token.KindAdmin {
		return "admin-" + canon
	}
	return canon
}

// bundle is what a bundle carries whatever its kind.
type bundle struct {
	cert, key, ca []byte
	token         string
}

// bundleFile is one file of a bundle and its mode.
type bundleFile struct {
	name string
	data []byte
	perm os.FileMode
}

// bundleFiles lays out kind's bundle: the credentials, and how to reach
// the receiver at receiverURL — a host's lab-host.toml, an admin's
// AdminReceiverFile.
func bundleFiles(kind, canon string, b bundle, receiverURL, releaseKey string, where hostLayout) []bundleFile {
	files := []bundleFile{
		{kind + ".crt", b.cert, 0o644},
		{kind + ".key", b.key, 0o600},
		{"ca.crt", b.ca, 0o644},
		{"token", []byte(b.token + "\n"), 0o600},
	}
	if kind == token.KindHost {
		return append(files, bundleFile{"lab-host.toml", []byte(labHostTOML(receiverURL, canon, releaseKey, where)), 0o644})
	}
	// `cis490 status --admin DIR` finds the receiver here.
	return append(files, bundleFile{AdminReceiverFile, []byte(receiverURL + "\n"), 0o644})
}

// AdminReceiverFile, in an admin bundle, holds the receiver's URL.
const AdminReceiverFile = "receiver.url"

func defaultReceiverURL(cfg *config.Receiver) string {
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil || port == "" {
		port = "8443"
	}
	return "https://" + net.JoinHostPort(cfg.ServerNames[0], port)
}

func labHostTOML(url, host, releaseKey string, where hostLayout) string {
	key := "# release_key = \"\" (none yet: autoupdate stays off until the receiver's release_key is set and this host gets it)"
	if releaseKey != "" {
		key = fmt.Sprintf("release_key = %q # pinned at enrollment: autoupdate installs only releases it signed", releaseKey)
	}
	stateDir, sources := where.toml()
	return fmt.Sprintf(`# lab-host.toml made by cis490 (ca issue or enroll); see deploy/lab-host.toml for every key.
receiver = %q
host = %q
%s
%s
[tls]
cert = "host.crt"
key = "host.key"
ca = "ca.crt"
token_file = "token"

%s`, url, host, key, stateDir, sources)
}

// runCARevoke revokes an admin (hosts: `cis490 host remove`): its tokens
// and every certificate the CA issued it stop working at once, for the
// API and the dashboard (its sessions end with its token).
func runCARevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ca revoke", "--admin NAME [--config receiver.toml]",
		"Revokes an admin's tokens and every certificate the CA issued it; the receiver refuses them at once.")
	path := fs.String("config", config.DefaultReceiverPath, "receiver config file")
	admin := fs.String("admin", "", "the admin to revoke")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *admin == "" {
		return usagef("give the admin: ca revoke --admin NAME (hosts: cis490 host remove NAME)")
	}
	cfg, err := config.LoadReceiver(*path)
	if err != nil {
		return err
	}
	var toks, certs int
	err = changeTrust(ctx, env, cfg, func(ctx context.Context, t *trust.Trust) (err error) {
		toks, certs, err = t.RevokeAdmin(ctx, *admin, "revoked", time.Now())
		return err
	})
	if err != nil {
		return err
	}
	if toks == 0 && certs == 0 {
		return fmt.Errorf("no admin %q is known here: nothing revoked (the CA's ledger names who it issued to)", *admin)
	}
	fmt.Fprintf(env.Stdout, "revoked admin %s: %d token(s) and %d certificate(s)\n", *admin, toks, certs)
	return nil
}

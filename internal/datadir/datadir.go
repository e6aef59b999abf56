// Package datadir is the layout of the receiver's data_dir: the one place
// that names a path under it. Receivers in the field keep their data
// across upgrades, so a name here never changes; a new file gets a new
// method here, and a new trust file joins TrustFiles, or `cis490 ca
// backup` would leave it behind.
//
// Dir names the entries of data_dir and the files in ca/ that `ca backup`
// carries. What lies inside the other folders belongs to the package
// handed the folder: logs/ to store, index/ to index, host-health/ to
// hosthealth, releases/ to release and gate, fleet-health/'s state to
// fleethealth.
package datadir

import (
	"path/filepath"

	"github.com/cis490/cis490/internal/pki"
)

// Dir is a receiver's data_dir; its methods name the paths under it.
type Dir string

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Logs is the store's folder: the hosts' log streams.
func (d Dir) Logs() string { return d.join("logs") }

// ReceiverLock is held by the receiver that stores into logs/ and index/,
// so nothing else writes or copies them underneath it.
func (d Dir) ReceiverLock() string { return d.join("logs", "receiver.lock") }

// Index is the request index's folder.
func (d Dir) Index() string { return d.join("index") }

// HostHealth holds the hosts' latest doctor snapshots.
func (d Dir) HostHealth() string { return d.join("host-health") }

// Releases holds the releases published to the receiver.
func (d Dir) Releases() string { return d.join("releases") }

// Sessions keeps the dashboard's sessions across restarts.
func (d Dir) Sessions() string { return d.join("dashboard-sessions.json") }

// FleetHealth is the detector's folder: its state and its lock.
func (d Dir) FleetHealth() string { return d.join("fleet-health") }

// Alerts is where the detector appends its alert lines, kept beside the
// data rather than in the detector's folder so a maintainer finds it.
func (d Dir) Alerts() string { return d.join("alerts.jsonl") }

// CA is the fleet CA's folder when the config does not name its files
// elsewhere.
func (d Dir) CA() string { return d.join("ca") }

// CACert is the fleet CA's certificate.
func (d Dir) CACert() string { return d.join("ca", pki.CACertFile) }

// CAKey is the fleet CA's private key.
func (d Dir) CAKey() string { return d.join("ca", pki.CAKeyFile) }

// ServerCert is the receiver's own certificate.
func (d Dir) ServerCert() string { return d.join("ca", pki.ServerCertFile) }

// ServerKey is the receiver's own private key.
func (d Dir) ServerKey() string { return d.join("ca", pki.ServerKeyFile) }

// Issued is the CA's ledger of the certificates it signed.
func (d Dir) Issued() string { return d.join("ca", "issued.jsonl") }

// TrustLock is held while trust changes (enrollment, revocation), so
// issuing and revoking never interleave.
func (d Dir) TrustLock() string { return d.join("ca", "trust.lock") }

// Tokens holds the hashes of the bearer and join tokens.
func (d Dir) Tokens() string { return d.join("tokens.json") }

// Revoked lists the serials of revoked certificates.
func (d Dir) Revoked() string { return d.join("revoked.json") }

// Removed lists the hosts `cis490 host remove` took out of the fleet.
func (d Dir) Removed() string { return d.join("removed-hosts.json") }

// A TrustFile is one file the fleet's trust rests on: without it no host
// could talk to a rebuilt receiver. The logs and the index are data, kept
// by whatever backs up the disk.
type TrustFile struct {
	// Name is the file's path relative to data_dir, slash-separated: its
	// name in a `ca backup` archive, so an archive restores into any
	// data_dir.
	Name string
	Path string
	// Required: the CA itself. The others appear when first needed (no
	// ledger before the first issue, no list before the first revocation).
	Required bool
}

// TrustFiles are what `ca backup` carries and `ca restore` accepts.
func (d Dir) TrustFiles() []TrustFile {
	files := []struct {
		path     func(Dir) string
		required bool
	}{
		{Dir.CACert, true}, {Dir.CAKey, true}, {Dir.ServerCert, false}, {Dir.ServerKey, false},
		{Dir.Issued, false}, {Dir.Tokens, false}, {Dir.Revoked, false}, {Dir.Removed, false},
	}
	out := make([]TrustFile, len(files))
	for i, f := range files {
		// Joined onto an empty root, a path is relative to data_dir.
		out[i] = TrustFile{Name: filepath.ToSlash(f.path("")), Path: f.path(d), Required: f.required}
	}
	return out
}

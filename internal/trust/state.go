package trust

import (
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/vfs"
)

// State is what trust keeps besides the tokens: the CA's ledger of issued
// certificates, the revocation list and the lock that serialises changes
// to them. Files keeps it under data_dir; a shared database would be a
// second implementation, the CA's private key staying a local file.
type State interface {
	// Lock holds off every other change to trust, in this process and
	// others (the receiver and the admin commands), until unlock.
	Lock() (unlock func(), err error)
	// Record adds a certificate the CA signed to the ledger, durably.
	Record(c pki.Issued) error
	// IssuedTo lists the ledger's certificates for name, oldest first.
	IssuedTo(name string) ([]pki.Issued, error)
	// Revoke adds entries to the revocation list; a serial already on it
	// is kept as it was.
	Revoke(entries ...pki.Revoked) error
}

// Files is State in the files under data_dir every receiver has used:
// ca/issued.jsonl, revoked.json and ca/trust.lock.
func Files(d datadir.Dir) State { return files{d} }

type files struct{ d datadir.Dir }

func (f files) Lock() (func(), error) { return vfs.Lock(f.d.TrustLock(), 0o640) }

func (f files) Record(c pki.Issued) error { return pki.Record(f.d.Issued(), c) }

func (f files) IssuedTo(name string) ([]pki.Issued, error) { return pki.IssuedTo(f.d.Issued(), name) }

func (f files) Revoke(entries ...pki.Revoked) error { return pki.Revoke(f.d.Revoked(), entries...) }

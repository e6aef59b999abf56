package trust_test

import (
	"os"
	"testing"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/trust"
	"github.com/cis490/cis490/internal/trust/trusttest"
)

// TestConformance holds the files under data_dir to trust.State's
// promises, two values over one folder standing for two processes.
func TestConformance(t *testing.T) {
	trusttest.Run(t, func(t *testing.T) trusttest.Stores {
		d := datadir.Dir(t.TempDir())
		if err := os.MkdirAll(d.CA(), 0o700); err != nil {
			t.Fatal(err)
		}
		rev, err := pki.OpenRevocations(d.Revoked())
		if err != nil {
			t.Fatal(err)
		}
		return trusttest.Stores{A: trust.Files(d), B: trust.Files(d), Revoked: rev}
	})
}

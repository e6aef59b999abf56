package statetest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/dashboard"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/statetest"
)

// TestLocal holds the files under data_dir, as every receiver has kept
// them, to the promises: one data folder seen twice.
func TestLocal(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (statetest.State, statetest.State) {
		data := datadir.Dir(t.TempDir())
		t.Cleanup(func() {
			// Every snapshot written renamed its temp file into place.
			ents, _ := os.ReadDir(data.HostHealth())
			for _, e := range ents {
				if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
					t.Errorf("%s left in the host-health folder", e.Name())
				}
			}
		})
		s := statetest.State{
			HostHealth: hosthealth.Folder(data.HostHealth()),
			Releases:   release.Folder(data.Releases()),
			Sessions:   dashboard.SessionsFile(data.Sessions()),
			Removals:   fleethealth.RemovedFile(data),
		}
		return s, s
	})
}

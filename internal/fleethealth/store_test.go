package fleethealth_test

import (
	"testing"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/fleethealth/detectortest"
)

// TestFilesStore holds the files in data_dir to the Store's promises.
func TestFilesStore(t *testing.T) {
	detectortest.Run(t, func(t *testing.T) fleethealth.Store { return fleethealth.Files(t.TempDir(), "") })
}

package groupsync

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// BenchmarkFsyncLanes measures what the disk under TMPDIR gives for the
// same bytes per commit round written to one file or split over several,
// each file synced by its own writer: whether commit lanes (issue 19)
// could buy throughput. b.N rounds in all; MB/s counts every lane's bytes.
//
//	go test -run - -bench FsyncLanes -benchtime 3s ./internal/groupsync/
func BenchmarkFsyncLanes(b *testing.B) {
	for _, round := range []int{128 << 10, 640 << 10} {
		for _, lanes := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("round=%dKiB/lanes=%d", round>>10, lanes), func(b *testing.B) {
				dir := b.TempDir()
				per := round / lanes
				buf := make([]byte, per)
				b.SetBytes(int64(round))
				b.ResetTimer()
				var wg sync.WaitGroup
				for l := range lanes {
					wg.Go(func() {
						f, err := os.Create(filepath.Join(dir, fmt.Sprintf("lane%d", l)))
						if err != nil {
							b.Error(err)
							return
						}
						defer f.Close()
						for range b.N {
							if _, err := f.Write(buf); err != nil {
								b.Error(err)
								return
							}
							if err := f.Sync(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}

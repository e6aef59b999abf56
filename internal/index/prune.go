package index

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Prune deletes whole day files older than maxAge, then the oldest while the
// total exceeds maxBytes. The current day's file is never deleted.
func (w *Writer) Prune(now time.Time, maxAge time.Duration, maxBytes int64) (int, error) {
	files, err := Files(w.fs, w.dir)
	if err != nil {
		return 0, err
	}
	today := FileName(now)
	sizes := make([]int64, len(files))
	var total int64
	for i, n := range files {
		if f, err := w.fs.OpenFile(filepath.Join(w.dir, n), os.O_RDONLY, 0); err == nil {
			sizes[i], _ = f.Size()
			f.Close()
		}
		total += sizes[i]
	}
	cutoff := FileName(now.Add(-maxAge))
	removed := 0
	for i, n := range files {
		if n >= today {
			break
		}
		old := maxAge > 0 && n < cutoff
		big := maxBytes > 0 && total > maxBytes
		if !old && !big {
			break
		}
		if err := w.fs.Remove(filepath.Join(w.dir, n)); err != nil {
			return removed, fmt.Errorf("prune index file %s: %w", n, err)
		}
		total -= sizes[i]
		removed++
	}
	if removed > 0 {
		return removed, w.fs.SyncDir(w.dir)
	}
	return 0, nil
}

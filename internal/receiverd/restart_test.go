package receiverd

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/vfs"
)

const (
	childEnv     = "CIS490_RESTART_CHILD"
	childSegment = 64 << 10
	childSynced  = 3000 // requests written before the index's sync mark
	childAfter   = 200  // requests written after it, then SIGKILL
)

// runChild writes requests the way the server does and then waits to be
// killed: childSynced requests, an index sync (as the receiver's minute
// timer does), childAfter more, each acknowledged.
func runChild(dir string) error {
	stg, err := OpenStorage(dir, store.Options{SegmentSize: childSegment}, nil)
	if err != nil {
		return err
	}
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	offs := map[string]int64{}
	for i := range childSynced + childAfter {
		key := store.Key{Host: fmt.Sprintf("h%d", i%10), Stream: "syslog"}
		data := fmt.Sprintf("request %06d: the quick brown fox jumps over the lazy dog\n", i)
		b, err := stg.Store.Begin(ctx, key, offs[key.Host], store.Gen{ID: "g"}, []byte(data))
		if err != nil {
			return err
		}
		offs[key.Host] = b.Length
		l := index.Line{TS: day.Add(time.Duration(i) * time.Second), Host: key.Host, Instance: fmt.Sprintf("req-%d", i), Method: "PUT", Endpoint: "logs", Status: 201, Bytes: int64(len(data)), Stream: key.Stream}
		d, err := stg.Index.Begin(l)
		if err != nil || d(ctx) != nil || b.Durable(ctx) != nil {
			return fmt.Errorf("request %d not acknowledged: %v", i, err)
		}
		if i+1 == childSynced {
			if _, err := stg.Index.Sync(); err != nil {
				return err
			}
		}
	}
	fmt.Println("acknowledged")
	select {}
}

// readCounter counts the bytes read from segment and index day files.
type readCounter struct {
	vfs.FS
	seg, day atomic.Int64
}

type countedFile struct {
	vfs.File
	n *atomic.Int64
}

func (c *readCounter) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	switch {
	case err != nil:
		return f, err
	case strings.HasSuffix(name, ".log"):
		return countedFile{f, &c.seg}, nil
	case strings.HasSuffix(name, ".jsonl"):
		return countedFile{f, &c.day}, nil
	}
	return f, nil
}

func (f countedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

// TestRestartAfterSIGKILLReadsOnlyTheTail kills a real process that was
// writing requests, then recovers its folder: every acknowledged request
// has its bytes and its one index line, and recovery read the segments
// not yet indexed and the index lines after the sync mark, not the history.
func TestRestartAfterSIGKILLReadsOnlyTheTail(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := runChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestartAfterSIGKILLReadsOnlyTheTail$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if line != "acknowledged\n" {
		t.Fatalf("the writer said %q; want it to acknowledge its requests", line)
	}
	segs, _ := filepath.Glob(filepath.Join(datadir.Dir(dir).Logs(), "seg-*.log"))

	rc := &readCounter{FS: vfs.OS{}}
	stg, err := OpenStorage(dir, store.Options{FS: rc, SegmentSize: childSegment}, nil)
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	defer stg.Close()
	// The writer's indexer may not have reached the newest sealed segment
	// before the kill: allow it and the active one, read whole.
	if n := rc.seg.Load(); n > 2*childSegment || len(segs) < 8 {
		t.Errorf("recovery read %d bytes of %d segments; want at most the two newest", n, len(segs))
	}
	t.Logf("recovery read %d bytes of %d segments and %d bytes of index files", rc.seg.Load(), len(segs), rc.day.Load())
	lineSize := int64(len(`{"ts":"2026-12-07T00:00:00.000Z","host":"h0","auth":false,"cert_host":"","method":"PUT","endpoint":"logs","status":201,"bytes":62,"commit":"","instance":"req-0000","reason":"","remote":"","dur_ms":0,"stream":"syslog","seq":1000}`) + 1)
	if n := rc.day.Load(); n > (childAfter+100)*lineSize {
		t.Errorf("recovery read %d bytes of index files; want about the %d lines after the sync mark (%d bytes)", n, childAfter, childAfter*lineSize)
	}
	seen := map[string]int{}
	var last uint64
	var order error
	_, _, err = index.Dir{Path: datadir.Dir(dir).Index()}.Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		if l.Seq != last+1 && order == nil {
			order = fmt.Errorf("line %d follows line %d", l.Seq, last)
		}
		last = l.Seq
		seen[l.Instance]++
	})
	if err != nil || order != nil {
		t.Fatalf("read the index: %v, %v", err, order)
	}
	for i := range childSynced + childAfter {
		if id := fmt.Sprintf("req-%d", i); seen[id] != 1 {
			t.Fatalf("acknowledged request %s has %d index lines", id, seen[id])
		}
	}
	for h := range 10 {
		key := store.Key{Host: fmt.Sprintf("h%d", h), Stream: "syslog"}
		b, info, err := stg.Store.Read(t.Context(), key, 0, 1<<20)
		want := (childSynced + childAfter) / 10
		if err != nil || strings.Count(string(b), "\n") != want || info.Length != int64(len(b)) {
			t.Fatalf("%s: read %d bytes (%d lines), %v; want its %d acknowledged requests", key, len(b), strings.Count(string(b), "\n"), err, want)
		}
	}
}

package shipper

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/wire"
)

// TestFollowPastAnEmptyCompressedGeneration: an empty generation compressed
// (logrotate's default ifempty) has no first bytes to know it by; the
// copies after it are other generations, read in order, not its own.
func TestFollowPastAnEmptyCompressedGeneration(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p, "A1\nA2\n")
	fl, _ := testFollower(p)
	fl.start()
	if c, err := fl.next(3); err != nil || string(c.Data) != "A1\n" {
		t.Fatal(c, err)
	}
	id := fl.cur.id
	fl.close()
	rotateCompressed(t, p, false, "")         // A -> .1.gz, B empty
	rotateCompressed(t, p, false, "C1\nC2\n") // B (empty) -> .1.gz
	rotateCompressed(t, p, false, "D1\n")     // C -> .1.gz
	fl, clock := testFollower(p)
	defer fl.close()
	if lost, err := fl.resume(id, 3, 6); err != nil || lost != 0 {
		t.Fatal(lost, err)
	}
	got := drainRounds(t, fl, clock, 5)
	if want := "A2\nC1\nC2\nD1\n"; string(got) != want {
		t.Fatalf("read %q; want %q (losses %+v)", got, want, fl.losses)
	}
}

// TestFollowPastACorruptGzip: a .gz after the finished generation whose
// CRC fails (bit rot) is not one still being written: it is counted lost,
// and the follower goes on to the live file.
func TestFollowPastACorruptGzip(t *testing.T) {
	p, fl, clock := pastA1(t)
	os.Rename(p, p+".2")
	var buf strings.Builder
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("B1\nB2\n"))
	zw.Close()
	z := []byte(buf.String())
	z[len(z)-8] ^= 0xff // CRC
	os.WriteFile(p+".1.gz", z, 0o644)
	appendTo(t, p, "C1\n")
	got := drainRounds(t, fl, clock, 5)
	if string(got) != "C1\n" || len(fl.losses) == 0 {
		t.Fatalf("read %q, losses %+v; want C1 and an unreadable loss", got, fl.losses)
	}
	_ = wire.LostUnreadable
}

// TestResumeReadsLaterGenerationsStillOnDisk: the shipper stopped long
// enough that its generation was deleted, but later ones are still on
// disk (compressed): it counts the lost rest, then reads them all in order
// before the live file.
func TestResumeReadsLaterGenerationsStillOnDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	appendTo(t, p, "A1\nA2\n")
	fl, _ := testFollower(p)
	fl.start()
	if c, err := fl.next(3); err != nil || string(c.Data) != "A1\n" {
		t.Fatal(c, err)
	}
	id := fl.cur.id
	st, _ := fl.cur.f.Stat()
	fl.close()
	rotateCompressed(t, p, true, "B1\n")
	rotateCompressed(t, p, true, "C1\n")
	rotateCompressed(t, p, true, "D1\n")
	os.Remove(p + ".3.gz") // A: past the rotate count
	fl, clock := testFollower(p)
	defer fl.close()
	lost, err := fl.resumeAfter(id, 3, 6, st.ModTime())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := drain(t, fl, clock, 64)
	if want := "B1\nC1\nD1\n"; string(got) != want || lost != 3 {
		t.Fatalf("lost %d; read %q; want %q", lost, got, want)
	}
}

// TestRestartWhileDownCountsALossOnce: a loss found at a resume is saved
// with a checkpoint that no longer names the gone generation, so a restart
// before the receiver heard of it (still down) does not count it again.
func TestRestartWhileDownCountsALossOnce(t *testing.T) {
	p, cps, recv := rotatedAwayUnshipped(t, 30) // gen 1 larger than what was acked of gen 0
	recv.setDown(true)
	for range 2 { // two restarts while the receiver is still unreachable
		stop := runStream(t, p, cps, recv)
		waitUntil(t, "the loss is in the checkpoint", func() bool {
			cp, err := cps.Load("app.log")
			return err == nil && cp.Lost != nil
		})
		stop()
	}
	recv.setDown(false)
	runStream(t, p, cps, recv)
	waitHolds(t, recv, genLines(0, 10)+genLines(1, 30))
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.losses) != 1 || recv.losses[0].Bytes != 700 {
		t.Fatalf("losses told: %+v; want the 700 bytes, once", recv.losses)
	}
}

// TestUnreadableCopyCountedOnce: an unreadable copy after the finished
// generation is counted lost once, not on every look while the follower
// waits for the live file's first line.
func TestUnreadableCopyCountedOnce(t *testing.T) {
	p, fl, clock := pastA1(t)
	os.Rename(p, p+".2")
	os.WriteFile(p+".1.gz", []byte("this is not gzip at all, just junk bytes"), 0o644)
	appendTo(t, p, "") // the new file, empty until the program writes
	for range 10 {
		drain(t, fl, clock, 64)
	}
	if len(fl.losses) != 1 {
		t.Fatalf("%d losses recorded for one unreadable copy: %+v", len(fl.losses), fl.losses)
	}
}

// TestXzGenerationCountedLost: a generation compressed with xz
// (compresscmd xz) before it was read cannot be read: it is counted lost.
func TestXzGenerationCountedLost(t *testing.T) {
	p, fl, clock := pastA1(t)
	os.Rename(p, p+".2")
	os.WriteFile(p+".1.xz", []byte("\xfd7zXZ\x00 pretend B's xz bytes"), 0o644)
	appendTo(t, p, "C1\n")
	got, _ := drain(t, fl, clock, 64)
	if string(got) != "C1\n" || len(fl.losses) != 1 {
		t.Fatalf("read %q, losses %+v; want C1 and B counted unreadable", got, fl.losses)
	}
}

// TestXzOfTheFinishedGenerationIsNoLoss: the finished generation's own
// .xz (compressors keep the file's time) is not a later generation lost.
func TestXzOfTheFinishedGenerationIsNoLoss(t *testing.T) {
	p, fl, clock := pastA1(t)
	st, _ := os.Stat(p)
	os.Rename(p, p+".1")
	appendTo(t, p, "B1\n")
	// next rotation: A -> .2.xz (its plain copy removed), B -> .1, C live
	os.WriteFile(p+".2.xz", []byte("\xfd7zXZ\x00 A's xz bytes"), 0o644)
	os.Chtimes(p+".2.xz", st.ModTime(), st.ModTime())
	os.Remove(p + ".1")
	os.Rename(p, p+".1")
	appendTo(t, p, "C1\n")
	got := drainRounds(t, fl, clock, 3)
	if string(got) != "B1\nC1\n" || len(fl.losses) != 0 {
		t.Fatalf("read %q, losses %+v", got, fl.losses)
	}
}

// TestFollowStopsWaitingOnAGzipCutShort: a .gz that stays incomplete and
// unchanged (a compressor killed, a full disk) is waited on for zWaitMax,
// then counted lost; the stream goes on to the live file.
func TestFollowStopsWaitingOnAGzipCutShort(t *testing.T) {
	p, fl, clock := pastA1(t)
	os.Rename(p, p+".2")
	appendTo(t, p+".1", "B1\nB2\n")
	gzipFile(t, p+".1", p+".1.gz", 8)
	os.Remove(p + ".1")
	appendTo(t, p, "C1\n")
	if got, _ := drain(t, fl, clock, 64); len(got) != 0 || len(fl.losses) != 0 {
		t.Fatalf("read %q, losses %+v while the .gz may still be written; want nothing yet", got, fl.losses)
	}
	*clock = clock.Add(zWaitMax)
	if got, _ := drain(t, fl, clock, 64); string(got) != "C1\n" || len(fl.losses) != 1 || fl.losses[0].Cause != wire.LostUnreadable {
		t.Fatalf("read %q, losses %+v after waiting %s; want C1 and the .gz counted lost", got, fl.losses, zWaitMax)
	}
}

// TestStatusCountsRotatedBacklog: a shipper behind a compressing
// logrotate has the rest of its generation and the copies written since
// waiting, not "nothing waiting" because the live file is new.
func TestStatusCountsRotatedBacklog(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	appendTo(t, p, "A1\nA2\n")
	st, _ := os.Stat(p)
	cps, err := OpenCheckpoints(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cps.Save(Checkpoint{Stream: "app.log", Path: p, Gen: identifyPath(t, p), Acked: 3, GenMod: st.ModTime()}); err != nil {
		t.Fatal(err)
	}
	rotateCompressed(t, p, false, "B1\nB2\n") // A -> .1.gz
	rotateCompressed(t, p, false, "C1\n")     // B -> .1.gz, A -> .2.gz
	b, _ := os.Stat(p + ".1.gz")
	ss, err := Status(dir)
	if err != nil || len(ss) != 1 {
		t.Fatal(ss, err)
	}
	if want := 3 + b.Size() + 3; ss[0].Backlog != want {
		t.Fatalf("backlog %d; want %d (A's last 3 bytes, B's .gz, C's 3 bytes)", ss[0].Backlog, want)
	}
}

package shipper

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// TestTruncationLossIsTold: a file truncated while the receiver is down,
// with bytes the shipper had seen but not read (its batch was full), loses
// them for good. The shipper says so once in its log, with the fix, tells
// the receiver on its next PUT, and keeps the loss for the doctor; the
// bytes it had read are still delivered.
func TestTruncationLossIsTold(t *testing.T) {
	p, cps, recv := newStreamRig(t)
	recv.setDown(true)
	gen0 := genLines(0, 100) // 5500 bytes
	appendTo(t, p, gen0)
	// A checkpoint at its start, so the shipper reads it without asking
	// the (down) receiver where it stands.
	if err := cps.Save(Checkpoint{Stream: "app.log", Path: p, Gen: identifyPath(t, p)}); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	st := newStream(streamOptions{Name: "app.log", Path: p, MaxBytes: 1024, MaxWait: time.Millisecond,
		Poll: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Retry: retryPolicy{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond, Refused: time.Second}}, cps, recv, newBudget(4<<20))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the shipper tried to send", func() bool { return strings.Contains(logs.String(), "ship failed") })

	os.Truncate(p, 0) // a program truncating its log, or copytruncate without the copy
	appendTo(t, p, "after the truncation\n")
	recv.setDown(false)
	want := gen0[:1024] + "after the truncation\n"
	waitHolds(t, recv, want)

	recv.mu.Lock()
	losses := recv.losses
	recv.mu.Unlock()
	if len(losses) != 1 || losses[0].Cause != wire.LostTruncated || losses[0].Bytes != int64(len(gen0)-1024) {
		t.Fatalf("losses told: %+v; want one truncation of %d bytes", losses, len(gen0)-1024)
	}
	if n := strings.Count(logs.String(), "gone for good"); n != 1 || !strings.Contains(logs.String(), "use create instead of copytruncate") {
		t.Errorf("the log says the loss %d times, with the fix? %s", n, logs.String())
	}
	// The checkpoint is saved just after the acknowledgement.
	waitUntil(t, "the checkpoint has nothing pending and keeps the truncation", func() bool {
		cp, err := cps.Load("app.log")
		return err == nil && cp.Lost == nil && cp.LastLoss != nil && cp.LastLoss.Cause == wire.LostTruncated
	})
}

// TestLossSurvivesACrash: a loss found while the receiver is down is kept
// in the checkpoint, so a shipper killed before it could tell the receiver
// tells it after the restart.
func TestLossSurvivesACrash(t *testing.T) {
	p, cps, recv := rotatedAwayUnshipped(t, 3)
	recv.setDown(true)
	stop := runStream(t, p, cps, recv)
	waitUntil(t, "the loss is in the checkpoint", func() bool {
		cp, err := cps.Load("app.log")
		return err == nil && cp.Lost != nil && cp.Lost.Bytes == 700 && cp.Lost.Cause == wire.LostRotatedAway
	})
	stop() // killed before it could tell
	recv.setDown(false)
	runStream(t, p, cps, recv)
	waitHolds(t, recv, genLines(0, 10)+genLines(1, 3))
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.losses) != 1 || recv.losses[0].Bytes != 700 {
		t.Fatalf("losses told: %+v; want the 700 bytes, once", recv.losses)
	}
}

// TestLossRefusedDoesNotStall: a receiver that cannot read the shipper's
// account of a loss (400 bad-lost) gets the logs without it: the loss is
// in the shipper's log, and nothing waits on it.
func TestLossRefusedDoesNotStall(t *testing.T) {
	p, cps, recv := rotatedAwayUnshipped(t, 3)
	recv.mu.Lock()
	recv.oldLost = true
	recv.mu.Unlock()
	runStream(t, p, cps, recv)
	waitHolds(t, recv, genLines(0, 10)+genLines(1, 3))
	waitUntil(t, "nothing pending", func() bool {
		cp, err := cps.Load("app.log")
		return err == nil && cp.Lost == nil && cp.LastLoss != nil
	})
}

// rotatedAwayUnshipped ships 10 lines of generation 0 and stops; then,
// as if the shipper had seen 700 bytes more than it shipped, the
// generation is deleted while it is stopped and generation 1 (n lines)
// starts at the path.
func rotatedAwayUnshipped(t *testing.T, n int) (string, *Checkpoints, *memReceiver) {
	t.Helper()
	p, cps, recv := newStreamRig(t)
	appendTo(t, p, genLines(0, 10))
	stop := runStream(t, p, cps, recv)
	waitHolds(t, recv, genLines(0, 10))
	stop()
	cp, _ := cps.Load("app.log")
	cp.Seen = cp.Acked + 700
	if err := cps.Save(cp); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	appendTo(t, p, genLines(1, n))
	return p, cps, recv
}

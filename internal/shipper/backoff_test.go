package shipper

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/transport"
)

// downReceiver fails every PUT as an unreachable receiver would.
type downReceiver struct{ puts atomic.Int64 }

func (d *downReceiver) PutLogs(context.Context, string, int64, transport.Gen, []byte) (int64, error) {
	d.puts.Add(1)
	return 0, errors.New("connect: connection refused")
}

func (d *downReceiver) Head(context.Context, string) (transport.StreamState, error) {
	return transport.StreamState{}, nil
}

// TestBackoffIsNotCutShortByWrites: a file written on every few
// milliseconds must not make the shipper retry a dead receiver each time.
func TestBackoffIsNotCutShortByWrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "busy.log")
	appendTo(t, p, "first\n")
	cps, _ := OpenCheckpoints(filepath.Join(dir, "cp"))
	recv := &downReceiver{}
	st := newStream(streamOptions{Name: "busy.log", Path: p, MaxBytes: 1 << 20, MaxWait: time.Millisecond,
		Poll: time.Second, Log: slog.New(slog.DiscardHandler)}, cps, recv, newBudget(4<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.run(ctx) }()
	for ctx.Err() == nil {
		appendTo(t, p, "more\n")
		st.poke() // what inotify does on every write
		time.Sleep(5 * time.Millisecond)
	}
	<-done
	// Backoff 1 s, 2 s, … with full jitter: a handful of tries, not hundreds.
	if n := recv.puts.Load(); n > 8 {
		t.Fatalf("%d PUTs to a dead receiver in 2.5 s; the backoff was cut short", n)
	}
}

package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// delay appends DelaySamples lines to path, one every DelayEvery, and
// polls the receiver's length (HEAD, one after another with Poll between)
// to see when each is covered.
func (r *shipRig) delay(ctx context.Context, p *proc, path string, w time.Duration, sources int) (*ShipDelay, error) {
	o := r.o
	stream := filepath.Base(path)
	d := &ShipDelay{MaxWait: w, Every: o.DelayEvery, Sources: sources, Poll: o.Poll}
	r.progress("delay: %d lines, one every %s, batch.max_wait %s", o.DelaySamples, o.DelayEvery, w)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := r.markIndex(); err != nil {
		return nil, err
	}
	samples := make(chan delaySample, o.DelaySamples)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	werr := make(chan error, 1)
	go appendLines(wctx, f, path, st.Size(), o.DelaySamples, o.DelayEvery, samples, werr)
	var waiting []delaySample
	var rtts []time.Duration
	var lastWrite time.Time
	open := true
	for open || len(waiting) > 0 {
		if !p.running() {
			_, err := p.stop()
			return nil, fmt.Errorf("delay: the shipper exited: %w", err)
		}
		if !open && time.Since(lastWrite) > w+30*time.Second {
			d.Lost = len(waiting)
			break
		}
		t0 := time.Now()
		length, err := r.host.length(ctx, r.t.Hosts[0].Name, stream)
		now := time.Now()
		if err != nil {
			return nil, fmt.Errorf("delay: %w", err)
		}
		rtts = append(rtts, now.Sub(t0))
		// Only lines whose write had returned when this answer came count
		// against it.
	drain:
		for open {
			select {
			case s, ok := <-samples:
				if !ok {
					open = false
					break drain
				}
				waiting = append(waiting, s)
				lastWrite = s.at
			default:
				break drain
			}
		}
		for len(waiting) > 0 && waiting[0].end <= length {
			d.Delays = append(d.Delays, max(0, now.Sub(waiting[0].at)))
			waiting = waiting[1:]
		}
		if err := sleepCtx(ctx, o.Poll); err != nil {
			return nil, err
		}
	}
	select {
	case err := <-werr:
		return nil, err
	default:
	}
	slices.Sort(d.Delays)
	slices.Sort(rtts)
	if len(rtts) > 0 {
		d.HeadRTT, d.HeadMax = rtts[len(rtts)/2], rtts[len(rtts)-1]
	}
	if err := r.countIndex(func(l index.Line) {
		if l.Method == http.MethodPut && l.Stream == stream {
			d.PUTs++
		}
	}); err != nil {
		return nil, err
	}
	if d.Lost > 0 {
		return d, fmt.Errorf("delay: %d of %d lines never reached the receiver within max_wait+30s; see %s", d.Lost, o.DelaySamples, p.log)
	}
	return d, nil
}

// waitLength polls the receiver (HEAD, every `every`) until stream holds
// want bytes, and returns when it saw that. It gives up when the shipper
// exits, or when the length stops growing for a minute.
func (r *shipRig) waitLength(ctx context.Context, p *proc, stream string, want int64, every time.Duration) (time.Time, error) {
	var last int64 = -1
	moved := time.Now()
	for {
		n, err := r.host.length(ctx, r.t.Hosts[0].Name, stream)
		now := time.Now()
		if err != nil {
			return now, err
		}
		if n >= want {
			if n > want {
				return now, fmt.Errorf("stream %s holds %d bytes, more than the %d written", stream, n, want)
			}
			return now, nil
		}
		if n != last {
			last, moved = n, now
		} else if now.Sub(moved) > time.Minute {
			return now, fmt.Errorf("stream %s stuck at %d of %d bytes for a minute; see %s", stream, n, want, p.log)
		}
		if !p.running() {
			_, err := p.stop()
			return now, fmt.Errorf("the shipper exited with stream %s at %d of %d bytes: %v", stream, n, want, err)
		}
		if err := sleepCtx(ctx, every); err != nil {
			return now, err
		}
	}
}

// delaySample is one line appended: the file's length after it, and when
// its write returned.
type delaySample struct {
	end int64
	at  time.Time
}

// appendLines appends n lines to f, one every every, sending each as it
// is written; a failed write goes to werr. It closes samples when done.
func appendLines(ctx context.Context, f *os.File, path string, end int64, n int, every time.Duration, samples chan<- delaySample, werr chan<- error) {
	defer close(samples)
	lm := NewLineMaker(uint64(time.Now().UnixNano()), "lab-pc-07")
	tk := time.NewTicker(every)
	defer tk.Stop()
	for range n {
		line := lm.Line(0)
		if _, err := f.Write(line); err != nil {
			werr <- fmt.Errorf("delay: append to %s: %w", path, err)
			return
		}
		at := time.Now()
		end += int64(len(line))
		samples <- delaySample{end, at}
		select {
		case <-tk.C:
		case <-ctx.Done():
			return
		}
	}
}

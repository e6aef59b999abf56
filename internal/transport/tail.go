package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// ErrNoStream is Tail's answer, wrapping the receiver's, when the stream
// is not there and there is nothing to wait for: the caller may explain
// with what the host does have.
var ErrNoStream = errors.New("no such stream")

// TailOptions say where Tail starts, whether it follows, and whom it tells
// what it could not print. Each On… may be nil.
type TailOptions struct {
	From   url.Values    // wire.QueryOffset or wire.QuerySince; nil: from the start
	Follow bool          // keep reading what arrives until ctx ends, like tail -F
	Every  time.Duration // how often a follow asks for more

	OnWaiting func()                              // following a stream that does not exist yet (once)
	OnRetry   func(err error, wait time.Duration) // the receiver failed mid-follow; trying again after wait
	OnPastEnd func(offset, length int64)          // the first offset asked for is past the stream's end
	OnDropped func(n int64)                       // retention removed n bytes before they could be read
}

// tailChunk bounds each read: a follow of a busy stream reads in steps.
const tailChunk = 1 << 20

// Tail reads host's stream from opt.From to its end and hands each piece
// to write; with opt.Follow it then keeps asking every opt.Every, waits
// for a stream that does not exist yet, and waits out a receiver that is
// restarting or busy. An ended ctx ends it quietly (nil): that is how a
// follow stops. A refusal (4xx) ends it with the receiver's *Error.
func (c *Client) Tail(ctx context.Context, host, stream string, opt TailOptions, write func([]byte) error) error {
	q := opt.From
	if q == nil {
		q = url.Values{wire.QueryOffset: {"0"}}
	}
	next := int64(-1)
	backoff := opt.Every
	waiting := false
	for {
		chunk, err := c.ReadLogs(ctx, host, stream, q, tailChunk)
		got, at, length := chunk.Data, chunk.Offset, chunk.Length
		if ctx.Err() != nil {
			return nil // interrupted: a follow ends quietly
		}
		if err != nil {
			var te *Error
			client := errors.As(err, &te) && te.Status/100 == 4
			if opt.Follow && next < 0 && client && te.Status == http.StatusNotFound {
				// Not there yet (a host not yet shipping it): wait, like tail -F.
				if !waiting && opt.OnWaiting != nil {
					opt.OnWaiting()
				}
				waiting = true
				if !sleep(ctx, opt.Every) {
					return nil
				}
				continue
			}
			if client && te.Reason == wire.ReasonNoStream && next < 0 {
				return fmt.Errorf("%w: %w", ErrNoStream, err)
			}
			if !opt.Follow || next < 0 || client {
				return err // nothing to follow yet, or the receiver says no
			}
			// A receiver restarting or busy: a follow waits it out.
			if opt.OnRetry != nil {
				opt.OnRetry(err, backoff)
			}
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = opt.Every
		if next < 0 && len(got) == 0 && at > length && opt.OnPastEnd != nil {
			opt.OnPastEnd(at, length)
		}
		if next >= 0 && at > next && opt.OnDropped != nil {
			opt.OnDropped(at - next)
		}
		if err := write(got); err != nil {
			return err
		}
		next = at + int64(len(got))
		q = url.Values{wire.QueryOffset: {strconv.FormatInt(next, 10)}}
		if next < length {
			continue // more already there
		}
		if !opt.Follow || !sleep(ctx, opt.Every) {
			return nil
		}
	}
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

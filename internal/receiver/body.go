package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/wire"
)

// A log body is read into memory before it is stored. The memory it holds
// is charged as its bytes arrive, not by its Content-Length, against two
// budgets: the receiver's (limits.max_inflight) and its host's
// (limits.max_inflight_per_host), so that one host's stalled uploads cannot
// take the memory every other host needs. A body must also keep moving:
// in every paceWindow it must bring MinBodyRate × paceWindow bytes (or
// end), or it is cut with 408 slow-body. A laptop on weak Wi-Fi moves far
// faster than that; a caller holding a connection open with a trickle
// does not.

// paceWindow is the span over which a body's rate is judged (Server's
// paceWindow, shorter in tests).
const paceWindow = 30 * time.Second

// firstReserve is the most memory charged before the first bytes of a
// body of known length (64 KiB for a chunked one): a shipper's usual batch
// fits in it, in a recycled buffer; a larger body's charge doubles as it
// outgrows it.
const firstReserve = 1 << 20

// hostBudgets holds each host's in-flight budget, made on first use and
// dropped when the host has nothing in flight.
type hostBudgets struct {
	mu    sync.Mutex
	limit int64
	byKey map[string]*hostBudget
}

type hostBudget struct {
	*budget
	users int // requests holding or waiting on it
}

func (h *hostBudgets) get(host string) *hostBudget {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byKey == nil {
		h.byKey = map[string]*hostBudget{}
	}
	b := h.byKey[host]
	if b == nil {
		b = &hostBudget{budget: newBudget(h.limit)}
		h.byKey[host] = b
	}
	b.users++
	return b
}

func (h *hostBudgets) done(host string, b *hostBudget) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.users--; b.users == 0 {
		delete(h.byKey, host)
	}
}

// bodyReader reads one body, charging its memory as it grows.
type bodyReader struct {
	ctx      context.Context // the request's
	s        *Server
	host     *hostBudget
	hostName string
	reserved int64
	buf      []byte
}

// grow charges n more bytes to both budgets, waiting up to 2 s. It
// returns the limit that refused, nil when both took the bytes.
func (b *bodyReader) grow(n int64) *store.QuotaError {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	if !b.host.acquire(ctx, n) {
		return &store.QuotaError{Kind: wire.LimitHostInflight, Used: b.host.used(), Limit: b.host.size}
	}
	if !b.s.inflight.acquire(ctx, n) {
		b.host.release(n)
		return &store.QuotaError{Kind: wire.LimitInflight, Used: b.s.inflight.used(), Limit: b.s.inflight.size}
	}
	b.reserved += n
	return nil
}

func (b *bodyReader) release() {
	b.s.bodies.put(b.buf)
	b.buf = nil
	b.s.inflight.release(b.reserved)
	b.host.release(b.reserved)
	b.s.hostBudgets.done(b.hostName, b.host)
}

// readBody reads the whole body within the size limit, the memory budgets
// and the pace; release gives its memory back.
func (s *Server) readBody(r *http.Request, w http.ResponseWriter, host string) (body []byte, release func(), _ *apiError) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, reason: wire.ReasonTooLarge,
		msg: fmt.Sprintf("the body is larger than the receiver's limit of %d bytes; send smaller batches (batch.max_bytes)", s.opt.MaxBody)}
	if r.ContentLength > s.opt.MaxBody {
		return nil, nil, tooLarge
	}
	// busy names the limit in the index line: the detector tells a
	// receiver short of memory for everyone from one greedy host.
	busy := func(q *store.QuotaError) *apiError {
		return &apiError{status: http.StatusServiceUnavailable, reason: wire.ReasonOverloaded,
			msg: "the receiver is busy; retry after the delay in Retry-After", retryAfter: 2, quota: q}
	}
	b := &bodyReader{ctx: r.Context(), s: s, host: s.hostBudgets.get(host), hostName: host}
	// The largest a body may be: its length, or the limit when chunked.
	limit, first := s.opt.MaxBody, int64(64<<10)
	if r.ContentLength >= 0 {
		limit, first = r.ContentLength, firstReserve
	}
	if q := b.grow(min(limit, first)); q != nil {
		b.release()
		return nil, nil, busy(q)
	}
	b.buf = s.bodies.get(int(b.reserved) + 1)                       // room to see EOF without growing
	pace := newPace(w, s.opt.MinBodyRate, s.paceWindow, time.Now()) // a network deadline: the real clock
	lr := io.LimitReader(r.Body, s.opt.MaxBody+1)
	for {
		if len(b.buf) == cap(b.buf) {
			if int64(len(b.buf)) > limit {
				b.release()
				return nil, nil, tooLarge
			}
			// Out of room: charge more and take a buffer twice the size.
			if q := b.grow(max(min(b.reserved, limit-b.reserved), 1)); q != nil {
				b.release()
				return nil, nil, busy(q)
			}
			nb := s.bodies.get(int(b.reserved) + 1)
			nb = append(nb, b.buf...)
			s.bodies.put(b.buf)
			b.buf = nb
		}
		n, err := lr.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			b.release()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, nil, pace.slow()
			}
			return nil, nil, &apiError{status: http.StatusBadRequest, reason: wire.ReasonBody,
				msg: "the request body could not be read completely; retry"}
		}
		pace.advance(int64(len(b.buf)), time.Now())
	}
	if int64(len(b.buf)) > s.opt.MaxBody {
		b.release()
		return nil, nil, tooLarge
	}
	return b.buf, b.release, nil
}

// pace cuts a body that brings less than rate bytes a second over a
// window: each time the body has moved rate×window bytes past the last
// mark, the read deadline moves a window on.
type pace struct {
	rc     *http.ResponseController
	window time.Duration
	step   int64
	mark   int64
}

func newPace(w http.ResponseWriter, rate int64, window time.Duration, now time.Time) *pace {
	if rate <= 0 || w == nil {
		return &pace{}
	}
	p := &pace{rc: http.NewResponseController(w), window: window, step: max(rate*int64(window)/int64(time.Second), 1)}
	_ = p.rc.SetReadDeadline(now.Add(window))
	return p
}

func (p *pace) advance(n int64, now time.Time) {
	if p.rc == nil || n-p.mark < p.step {
		return
	}
	p.mark = n
	_ = p.rc.SetReadDeadline(now.Add(p.window))
}

func (p *pace) slow() *apiError {
	return &apiError{status: http.StatusRequestTimeout, reason: wire.ReasonSlowBody, close: true,
		msg: fmt.Sprintf("the body brought less than %d bytes in %s and was cut; nothing was stored, retry (the receiver's limits.min_body_rate)", p.step, p.window)}
}

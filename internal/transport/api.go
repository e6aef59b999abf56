package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cis490/cis490/internal/wire"
)

// Gen is the file generation a PUT's bytes come from.
type Gen struct {
	ID    string
	Start int64
	// Lost is what the stream lost for good before these bytes, told to
	// the receiver once (X-Cis490-Lost); nil when nothing was.
	Lost *wire.Loss
}

// PutLogs appends data at offset of the host's stream and returns the
// stream's length once the receiver has made it durable (201 or 200). Any
// refusal is an *Error: a 409 carries the length to resync to.
func (c *Client) PutLogs(ctx context.Context, stream string, offset int64, gen Gen, data []byte) (int64, error) {
	hdr := http.Header{}
	if gen.ID != "" {
		hdr.Set(wire.HeaderGeneration, gen.ID)
		hdr.Set(wire.HeaderGenerationStart, strconv.FormatInt(gen.Start, 10))
	}
	if gen.Lost != nil {
		hdr.Set(wire.HeaderLost, gen.Lost.String())
	}
	hdr.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(ctx, http.MethodPut, wire.PutLogsPath(c.opt.Host, stream, offset), data, hdr)
	if err != nil {
		return 0, err
	}
	if err := resp.Err(); err != nil {
		return 0, err
	}
	var body wire.Appended
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return 0, fmt.Errorf("receiver's answer to PUT has no length: %w", err)
	}
	return body.Length, nil
}

// StreamState is what the receiver holds of a stream (HEAD).
type StreamState struct {
	Found    bool
	Length   int64
	Start    int64
	Gen      string
	GenStart int64
}

// Head asks the receiver where the host's stream stands; an unknown stream
// is Found=false, not an error.
func (c *Client) Head(ctx context.Context, stream string) (StreamState, error) {
	resp, err := c.Do(ctx, http.MethodHead, wire.LogsPath(c.opt.Host, stream), nil, nil)
	if err != nil {
		return StreamState{}, err
	}
	if resp.Status == http.StatusNotFound {
		return StreamState{}, nil
	}
	if err := resp.Err(); err != nil {
		return StreamState{}, err
	}
	num := func(k string) (int64, error) {
		n, err := strconv.ParseInt(resp.Header.Get(k), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("receiver's HEAD answer: %s: %w", k, err)
		}
		return n, nil
	}
	st := StreamState{Found: true, Gen: resp.Header.Get(wire.HeaderGeneration)}
	if st.Length, err = num(wire.HeaderLength); err != nil {
		return StreamState{}, err
	}
	if st.Start, err = num(wire.HeaderStart); err != nil {
		return StreamState{}, err
	}
	if st.GenStart, err = num(wire.HeaderGenerationStart); err != nil {
		return StreamState{}, err
	}
	return st, nil
}

// Heartbeat tells the receiver the host is alive (wire.StateUp), or going
// down (wire.StateShutdown) or to sleep. It is never behind the version
// gate.
func (c *Client) Heartbeat(ctx context.Context, state string) error {
	resp, err := c.HeartbeatResponse(ctx, state)
	if err != nil {
		return err
	}
	return resp.Err()
}

// HeartbeatResponse sends a heartbeat and returns the receiver's answer
// whatever its status: the doctor reads what the receiver tells a host
// (wire.HeaderGate, wire.HeaderInstances…) and its refusals.
func (c *Client) HeartbeatResponse(ctx context.Context, state string) (*Response, error) {
	body, _ := json.Marshal(wire.Heartbeat{State: state})
	return c.Do(ctx, http.MethodPut, wire.HeartbeatPath(c.opt.Host), body,
		http.Header{"Content-Type": {"application/json"}})
}

// GetJSON fetches path and decodes its JSON answer into v.
func (c *Client) GetJSON(ctx context.Context, path string, v any) error {
	resp, err := c.Do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return fmt.Errorf("the receiver's answer to GET %s is not the JSON expected: %w", path, err)
	}
	return nil
}

// PutHostHealth sends this host's doctor snapshot. It is never behind the
// version gate: a host running stale code can still say so.
func (c *Client) PutHostHealth(ctx context.Context, snapshot []byte) error {
	resp, err := c.Do(ctx, http.MethodPut, wire.HostHealthPath(c.opt.Host), snapshot,
		http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return err
	}
	return resp.Err()
}

// RenewCert asks for a new certificate over the key of csrPEM,
// authenticated by the current (maybe just expired) certificate and the
// host token. Never behind the version gate.
func (c *Client) RenewCert(ctx context.Context, csrPEM []byte) (*wire.Renewed, error) {
	body, _ := json.Marshal(wire.RenewRequest{CSR: string(csrPEM)})
	resp, err := c.Do(ctx, http.MethodPost, wire.PathRenew, body, http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return nil, err
	}
	if err := resp.Err(); err != nil {
		return nil, err
	}
	var r wire.Renewed
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the receiver's renewal is not JSON: %w", err)
	}
	return &r, nil
}

// Chunk is a piece of a stored stream, read back by an admin.
type Chunk struct {
	Data   []byte
	Offset int64 // where Data begins: retention may have moved it past the offset asked for
	Length int64 // the stream's length now
}

// ReadLogs reads up to limit bytes of host's stream from where q says:
// wire.QueryOffset or wire.QuerySince (GET, admins only).
func (c *Client) ReadLogs(ctx context.Context, host, stream string, q url.Values, limit int) (Chunk, error) {
	q.Set(wire.QueryLimit, strconv.Itoa(limit))
	resp, err := c.Do(ctx, http.MethodGet, wire.LogsPath(host, stream)+"?"+q.Encode(), nil, nil)
	if err != nil {
		return Chunk{}, err
	}
	if err := resp.Err(); err != nil {
		return Chunk{}, err
	}
	at, err1 := strconv.ParseInt(resp.Header.Get(wire.HeaderOffset), 10, 64)
	length, err2 := strconv.ParseInt(resp.Header.Get(wire.HeaderLength), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Chunk{}, fmt.Errorf("the receiver's answer lacks its offset and length headers (an older receiver?): %w", err)
	}
	return Chunk{Data: resp.Body, Offset: at, Length: length}, nil
}

// Streams lists what host has stored (GET, admins only).
func (c *Client) Streams(ctx context.Context, host string) ([]wire.StreamInfo, error) {
	var v wire.Streams
	err := c.GetJSON(ctx, wire.LogsPath(host, ""), &v)
	return v.Streams, err
}

// Search runs a fleet-wide search (GET /v1/search, admins only) and calls
// fn with each line of its answer, JSON, as it arrives: the hits, then the
// summary. A refusal comes back as an *Error.
func (c *Client) Search(ctx context.Context, q url.Values, fn func(line []byte) error) error {
	lw := &lineWriter{fn: fn}
	resp, _, err := c.Fetch(ctx, wire.PathSearch+"?"+q.Encode(), lw, 1<<62)
	if lw.err != nil {
		return lw.err
	}
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	if len(lw.buf) > 0 {
		return fmt.Errorf("the receiver's search answer ended in the middle of a line: %.80q", lw.buf)
	}
	return nil
}

// lineWriter calls fn with each whole line written to it.
type lineWriter struct {
	buf []byte
	fn  func([]byte) error
	err error // fn's, which ends the copy
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	done := 0
	for {
		i := bytes.IndexByte(w.buf[done:], '\n')
		if i < 0 {
			break
		}
		if err := w.fn(w.buf[done : done+i]); err != nil {
			w.err = err
			return 0, err
		}
		done += i + 1
	}
	w.buf = w.buf[:copy(w.buf, w.buf[done:])]
	if len(w.buf) > 1<<20 {
		w.err = errors.New("the receiver's search answer has a line longer than 1 MiB")
		return 0, w.err
	}
	return len(p), nil
}

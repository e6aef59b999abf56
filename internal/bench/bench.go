// Package bench is a load generator for the receiver and for a peer baseline
// (nginx with WebDAV PUT): N simulated hosts, each presenting its own client
// certificate over one keep-alive mutual TLS 1.3 connection, PUT bodies of a
// fixed size for a fixed time. It reports requests and bytes per second,
// latency percentiles, errors by status, and the server's CPU time per
// request read from /proc, since the generator shares the machine's CPUs with
// the server.
//
// Start a server with StartCis490 or StartNginx, then Run a Load against it.
package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cis490/cis490/internal/wire"
)

// Kind is the protocol a target speaks.
type Kind int

// Kinds of target.
const (
	// KindCis490: PUT /v1/logs/<host>/s?offset=N, each host appending at its
	// own stream's length (taken from each 201 {"length":L}).
	KindCis490 Kind = iota + 1
	// KindNginx: PUT /up/<host>/<n> to a new path every time.
	KindNginx
)

// Host is one simulated host's credentials.
type Host struct {
	Name  string
	Cert  tls.Certificate
	Token string
	// CertPEM and KeyPEM are Cert as files hold it, for a process that
	// reads its credentials from disk (the shipper).
	CertPEM, KeyPEM []byte
}

// Target is a server under load on loopback.
type Target struct {
	Name       string // "cis490" or "nginx"
	Kind       Kind
	Addr       string // 127.0.0.1:port
	ServerName string // name the server certificate is checked for
	RootCAs    *x509.CertPool
	CAPEM      []byte // the fleet CA certificate (PEM)
	Hosts      []Host
	Admin      *Host  // an admin's credentials, when Options.Admin asked for them
	PID        int    // server process; its CPU and its descendants' is measured
	Dir        string // its temporary folder
	Log        string // its log file
	Data       string // cis490: its data folder
	Conf       string // cis490: its receiver.toml
	// Started is when the server process was started, Ready when it first
	// answered its readiness probe.
	Started, Ready time.Time

	// Parts, when set, are every process tree of a server made of several
	// (receivers, PostgreSQL, the object store, a load balancer): each one's
	// CPU is reported, and the server's CPU is their sum.
	Parts []Part

	opt  Options // how PrepareCis490 made it, for Launch
	stop func() error
	// proxied: the server wants a PROXY protocol header first on every
	// connection from loopback, so the readiness probe sends one.
	proxied bool
}

// Part is one component of a target's server side: a process and its
// descendants. Parts of one Name are summed (two receivers).
type Part struct {
	Name string // "receiver", "postgres", "s3", "haproxy"
	PID  int
}

// PartCPU is one component's CPU time over a run's window.
type PartCPU struct {
	Name string
	CPU  time.Duration
}

// Close stops the server and waits for it to exit.
func (t *Target) Close() error {
	if t.stop == nil {
		return nil
	}
	err := t.stop()
	t.stop = nil
	return err
}

// Load is what to send.
type Load struct {
	Hosts    int           // concurrent hosts (at most len(Target.Hosts))
	Size     int           // body bytes per PUT
	Duration time.Duration // measured time
	Warmup   time.Duration // unmeasured time before it (handshakes, first appends)
	// PID, when set, is the process whose CPU is measured (with its
	// descendants) instead of Target.PID.
	PID int
	// During, when set, is called once the measured window begins, with the
	// server's PID and the window's length; what it returns is called when
	// the window ends (a profiler, a syscall counter).
	During func(pid int, d time.Duration) (stop func())
	// Think is each host's pause between an answer and its next request:
	// 0 saturates the server; a pause makes a lab-like load, whose
	// throughput shows how much the server's latency grows.
	Think time.Duration
}

// Result is one run's figures. Only requests started inside the measured
// window count.
type Result struct {
	Target  string
	Size    int
	Hosts   int
	Elapsed time.Duration // from the window's start until the last request ended

	OK      int64            // 2xx answers
	Errors  map[string]int64 // by status ("409") or "net"
	FirstEr string           // the first error seen, for the report

	P50, P99, Max time.Duration // latency of 2xx answers

	ServerCPU  time.Duration // user+system of the server (and its children); of all Parts when the target has them
	ClientCPU  time.Duration // user+system of this process
	MachineCPU float64       // share of all CPUs busy during the window, 0..1
	// OtherCPU is the machine's busy time that was neither the server's nor
	// the generator's (kernel threads, other people's builds): a run with
	// much of it is skewed.
	OtherCPU time.Duration
	// Parts is the CPU of each component of the target (Target.Parts, one
	// entry per name in their order); empty for a one-process server.
	Parts []PartCPU

	// Syncs is the server's fsync+fdatasync calls in the window, -1 when not
	// counted (see SyncCounter); set by the caller.
	Syncs int64
	// Dials is the connections the hosts opened in the window: each host
	// keeps one, so any dial is a reconnection after the server dropped one.
	Dials int64
}

// ReqPerSec is 2xx answers per second.
func (r *Result) ReqPerSec() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// MBPerSec is acknowledged body megabytes (10^6 bytes) per second.
func (r *Result) MBPerSec() float64 {
	return float64(r.OK) * float64(r.Size) / 1e6 / r.Elapsed.Seconds()
}

// ServerCPUPerReq is the server's CPU time per 2xx answer.
func (r *Result) ServerCPUPerReq() time.Duration { return r.PerReq(r.ServerCPU) }

// PerReq is d per 2xx answer.
func (r *Result) PerReq(d time.Duration) time.Duration {
	if r.OK == 0 {
		return 0
	}
	return d / time.Duration(r.OK)
}

// ClientCPUPerReq is the generator's CPU time per 2xx answer.
func (r *Result) ClientCPUPerReq() time.Duration { return r.PerReq(r.ClientCPU) }

// OtherLoad is OtherCPU as a share of the machine's CPU capacity over the
// window.
func (r *Result) OtherLoad() float64 {
	return r.OtherCPU.Seconds() / (r.Elapsed.Seconds() * float64(runtime.NumCPU()))
}

// ErrorCount is the number of requests that got no 2xx.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// hostResult is what one host's goroutine collects.
type hostResult struct {
	ok      int64
	errs    map[string]int64
	first   string
	lat     []time.Duration
	lastEnd time.Time
	dials   int64
}

// Run puts l on t until l.Warmup+l.Duration has passed (or ctx ends), then
// waits for the requests in flight and returns the figures of the window.
func Run(ctx context.Context, t *Target, l Load) (*Result, error) {
	if l.Hosts <= 0 || l.Hosts > len(t.Hosts) {
		return nil, fmt.Errorf("bench: %d hosts asked, the target has credentials for %d", l.Hosts, len(t.Hosts))
	}
	if l.Size <= 0 {
		return nil, errors.New("bench: body size must be positive")
	}
	if l.Duration <= 0 {
		return nil, errors.New("bench: duration must be positive")
	}
	pid := t.PID
	if l.PID > 0 {
		pid = l.PID
	}
	body := Body(l.Size)
	begin := time.Now()
	window := begin.Add(l.Warmup)
	end := window.Add(l.Duration)

	results := make([]hostResult, l.Hosts)
	var wg sync.WaitGroup
	for i := range l.Hosts {
		wg.Go(func() { results[i] = runHost(ctx, t, t.Hosts[i], body, window, end, l) })
	}

	// Sample the CPU counters at the window's start and after the last
	// request ended.
	var res Result
	var cpu0 cpuSample
	var stopDuring func()
	select {
	case <-time.After(time.Until(window)):
	case <-ctx.Done():
	}
	cpu0 = sampleCPU(pid, t.Parts)
	if l.During != nil && ctx.Err() == nil {
		stopDuring = l.During(pid, l.Duration)
	}
	wg.Wait()
	cpu1 := sampleCPU(pid, t.Parts)
	if stopDuring != nil {
		stopDuring()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res = Result{Target: t.Name, Size: l.Size, Hosts: l.Hosts, Errors: map[string]int64{}, Syncs: -1}
	var lat []time.Duration
	last := window
	for _, h := range results {
		res.OK += h.ok
		for k, v := range h.errs {
			res.Errors[k] += v
		}
		if res.FirstEr == "" {
			res.FirstEr = h.first
		}
		lat = append(lat, h.lat...)
		res.Dials += h.dials
		if h.lastEnd.After(last) {
			last = h.lastEnd
		}
	}
	res.Elapsed = last.Sub(window)
	if res.Elapsed <= 0 {
		res.Elapsed = l.Duration
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50 = percentile(lat, 0.50)
		res.P99 = percentile(lat, 0.99)
		res.Max = lat[len(lat)-1]
	}
	res.ServerCPU = cpu1.proc - cpu0.proc
	if len(t.Parts) > 0 {
		res.Parts = partsCPU(t.Parts, cpu0.parts, cpu1.parts)
		if l.PID <= 0 {
			res.ServerCPU = 0
			for _, p := range res.Parts {
				res.ServerCPU += p.CPU
			}
		}
	}
	res.ClientCPU = cpu1.self - cpu0.self
	if total := cpu1.total - cpu0.total; total > 0 {
		res.MachineCPU = float64(cpu1.busy-cpu0.busy) / float64(total)
	}
	res.OtherCPU = max(0, time.Duration(cpu1.busy-cpu0.busy)*tick-res.ServerCPU-res.ClientCPU)
	return &res, nil
}

// partsCPU is each part's CPU between two samples, summed by name.
func partsCPU(parts []Part, before, after []time.Duration) []PartCPU {
	var out []PartCPU
	for i, p := range parts {
		d := max(0, after[i]-before[i]) // a part that died reads as 0
		j := slices.IndexFunc(out, func(c PartCPU) bool { return c.Name == p.Name })
		if j < 0 {
			out = append(out, PartCPU{Name: p.Name})
			j = len(out) - 1
		}
		out[j].CPU += d
	}
	return out
}

// percentile of sorted, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Body returns size bytes of log-like text, the same every time.
func Body(size int) []byte {
	const line = "2026-11-26T14:03:07.123456+00:00 lab-host-17 sshd[2211]: Accepted publickey for student from 10.0.0.7 port 51234 ssh2\n"
	b := bytes.Repeat([]byte(line), size/len(line)+1)
	return b[:size]
}

// runHost is one host: one goroutine, one transport, one connection.
func runHost(ctx context.Context, t *Target, h Host, body []byte, window, end time.Time, l Load) hostResult {
	tr := hostTransport(t, h)
	defer tr.CloseIdleConnections()
	// Count the connections opened once the window began: the transport
	// redials on its own, and a reconnection is what a dropped connection
	// costs a host.
	var dials atomic.Int64
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !time.Now().Before(window) {
			dials.Add(1)
		}
		return dial(ctx, network, addr)
	}
	hdr := http.Header{
		"Authorization":            {"Bearer " + h.Token},
		"Content-Type":             {"application/octet-stream"},
		"User-Agent":               {"cis490-bench"},
		wire.HeaderInstance:        {"bench-" + h.Name},
		wire.HeaderGeneration:      {"bench-gen"},
		wire.HeaderGenerationStart: {"0"},
	}
	u := url.URL{Scheme: "https", Host: t.Addr}
	prefix := "/up/" + h.Name + "/"
	if t.Kind == KindCis490 {
		u.Path = wire.LogsPath(h.Name, "s")
	}
	// A guess at the number of requests, so the slice seldom grows.
	r := hostResult{errs: map[string]int64{}, lat: make([]time.Duration, 0, int(l.Duration/time.Millisecond))}
	defer func() { r.dials = dials.Load() }()
	var offset, seq int64
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		start := time.Now()
		if !start.Before(end) {
			break
		}
		measured := !start.Before(window)
		seq++
		if t.Kind == KindCis490 {
			u.RawQuery = wire.QueryOffset + "=" + strconv.FormatInt(offset, 10)
		} else {
			u.Path = prefix + strconv.FormatInt(seq, 10)
		}
		ru := u // the transport may still hold the last request's URL
		req := &http.Request{
			Method:        http.MethodPut,
			URL:           &ru,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        hdr,
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			Host:          t.Addr,
		}
		req = req.WithContext(ctx)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if measured {
				r.errs["net"]++
				if r.first == "" {
					r.first = err.Error()
				}
			}
			r.lastEnd = time.Now()
			// A dead server must not spin the CPU.
			if sleepCtx(ctx, max(l.Think, 10*time.Millisecond)) != nil {
				break
			}
			continue
		}
		n, _ := io.ReadFull(resp.Body, buf)
		if n == len(buf) {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
		now := time.Now()
		r.lastEnd = now
		ok := resp.StatusCode/100 == 2
		if t.Kind == KindCis490 && (ok || resp.StatusCode == http.StatusConflict) {
			if l, found := jsonLength(buf[:n]); found {
				offset = l
			}
		}
		switch {
		case !measured:
		case ok:
			r.ok++
			r.lat = append(r.lat, now.Sub(start))
		default:
			r.errs[strconv.Itoa(resp.StatusCode)]++
			if r.first == "" {
				r.first = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(buf[:n]))
			}
		}
		if l.Think > 0 && sleepCtx(ctx, l.Think) != nil {
			break
		}
	}
	if r.lastEnd.IsZero() {
		r.lastEnd = window
	}
	return r
}

// hostTransport is one host's own transport: its certificate, one
// keep-alive connection, no proxy or compression to skew the figures.
func hostTransport(t *Target, h Host) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{h.Cert}, RootCAs: t.RootCAs, ServerName: t.ServerName, MinVersion: tls.VersionTLS13},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
}

// jsonLength finds "length":N in a small JSON answer without decoding it all.
func jsonLength(b []byte) (int64, bool) {
	const key = `"length":`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = bytes.TrimLeft(b[i+len(key):], " ")
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(b[:j]), 10, 64)
	return n, err == nil
}

// FreeAddr returns a loopback address with a port nobody listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

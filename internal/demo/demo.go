// Package demo runs a real receiver and a few simulated lab hosts on
// loopback, with a throwaway CA, so a newcomer sees cis490 work with one
// command. The hosts here are small PUT loops; the full shipper replaces them
// when it lands.
package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/buildinfo"
	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receiver"
	"github.com/cis490/cis490/internal/token"
)

// Options for a demo run.
type Options struct {
	Dir      string        // empty: a new temporary folder
	Duration time.Duration // how long the hosts ship
	Out      io.Writer
	Log      *slog.Logger
}

// staleCommit is a made-up old release the demo receiver's gate refuses.
const staleCommit = "0000000000000000000000000000000000000001"

type simHost struct {
	name       string
	stamp      string
	every      time.Duration
	quietAfter time.Duration // 0: never goes quiet
}

// Run runs the demo until the duration passes or ctx ends.
func Run(ctx context.Context, opt Options) error {
	dir := opt.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cis490-demo-"); err != nil {
			return fmt.Errorf("make demo folder: %w", err)
		}
	}
	fmt.Fprintf(opt.Out, "cis490 demo in %s\n", dir)
	cfg := config.DefaultReceiver()
	cfg.DataDir = filepath.Join(dir, "receiver")
	cfg.ServerNames = []string{"localhost", "127.0.0.1"}
	cfg.Listen = "127.0.0.1:0"
	cfg.Limits.MinFree = 0
	self := buildinfo.Read().Commit
	if len(self) != 40 { // a build without VCS info: stamp the hosts with a stand-in release
		self = "1111111111111111111111111111111111111111"
	}
	cfg.Gate.Releases = []config.Release{{Version: "0.0.1", Commit: staleCommit}, {Version: "0.1.0", Commit: self}}
	cfg.Gate.Accept = 1
	cfg.Resolve(dir)
	if err := cfg.Validate(); err != nil {
		return err
	}
	ca, err := pki.Init(filepath.Dir(cfg.TLS.CA), cfg.ServerNames, time.Now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rctx, stopReceiver := context.WithCancel(ctx)
	defer stopReceiver()
	rdone := make(chan error, 1)
	go func() { rdone <- receiver.Run(rctx, &cfg, ln, opt.Log, nil) }()
	url := "https://" + ln.Addr().String()
	fmt.Fprintf(opt.Out, "receiver on %s, data in %s\n\n", url, cfg.DataDir)

	hosts := []simHost{
		{name: "lab-101", stamp: self, every: 300 * time.Millisecond},
		{name: "lab-102", stamp: self, every: 700 * time.Millisecond},
		{name: "lab-103", stamp: "", every: time.Second},                                           // unstamped
		{name: "lab-104", stamp: staleCommit, every: time.Second},                                  // stale code: 426
		{name: "lab-105", stamp: self, every: 400 * time.Millisecond, quietAfter: 4 * time.Second}, // goes quiet
	}
	hctx, stopHosts := context.WithTimeout(ctx, opt.Duration)
	defer stopHosts()
	var wg sync.WaitGroup
	for _, h := range hosts {
		c, k, err := ca.IssueHost(h.name, 24*time.Hour, time.Now())
		if err != nil {
			return err
		}
		tok, err := token.Add(receiver.TokensPath(cfg.DataDir), token.KindHost, h.name, time.Now())
		if err != nil {
			return err
		}
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			return err
		}
		client := newClient(ca.Cert, pair)
		wg.Go(func() { h.ship(hctx, client, url, tok) })
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ixDir := filepath.Join(cfg.DataDir, receiver.IndexDir)
loop:
	for {
		select {
		case <-hctx.Done():
			break loop
		case <-tick.C:
			printTable(opt.Out, ixDir)
		}
	}
	wg.Wait()
	printTable(opt.Out, ixDir)
	stopReceiver()
	if err := <-rdone; err != nil {
		return err
	}
	fmt.Fprintf(opt.Out, "\ndone: the index is in %s, the streams in %s\n", ixDir, filepath.Join(cfg.DataDir, receiver.LogsDir))
	return nil
}

func newClient(ca *x509.Certificate, pair tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{pair}}}}
}

// ship appends numbered log lines to the host's stream until ctx ends.
func (h simHost) ship(ctx context.Context, c *http.Client, url, tok string) {
	start := time.Now()
	var off int64
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.every):
		}
		if h.quietAfter > 0 && time.Since(start) > h.quietAfter {
			continue
		}
		line := fmt.Sprintf("%s %s demo[%d]: event %d\n", time.Now().UTC().Format(time.RFC3339), h.name, os.Getpid(), i)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut,
			url+"/v1/logs/"+h.name+"/syslog?offset="+strconv.FormatInt(off, 10), bytes.NewReader([]byte(line)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("User-Agent", buildinfo.Read().UserAgent())
		if h.stamp != "" {
			req.Header.Set("X-Cis490-Code-Commit", h.stamp)
		}
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		var body struct {
			Length int64 `json:"length"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusConflict {
			off = body.Length
		}
	}
}

type hostRow struct {
	last    time.Time
	ok, bad int
	reason  string
	commit  string
}

// printTable summarises the index per host.
func printTable(w io.Writer, ixDir string) {
	rows := map[string]*hostRow{}
	index.Scan(nil, ixDir, index.Pos{}, func(l index.Line) error {
		r := rows[l.Host]
		if r == nil {
			r = &hostRow{}
			rows[l.Host] = r
		}
		r.last = l.TS
		r.commit = l.Commit
		if l.Status < 300 {
			r.ok++
		} else {
			r.bad++
			r.reason = fmt.Sprintf("%d %s", l.Status, l.Reason)
		}
		return nil
	})
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%s  %-9s %5s %5s  %-8s  %s\n", time.Now().Format("15:04:05"), "host", "ok", "fail", "quiet", "last refusal / stamp")
	for _, n := range names {
		r := rows[n]
		note := r.reason
		if r.commit == "" {
			note += " (unstamped)"
		}
		fmt.Fprintf(w, "          %-9s %5d %5d  %-8s  %s\n", n, r.ok, r.bad, time.Since(r.last).Round(time.Second), note)
	}
}

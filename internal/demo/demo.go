// Package demo runs a real receiver and simulated lab hosts on loopback,
// with a throwaway CA, so a newcomer sees cis490 work with one command. The
// hosts run the real shipper over real TLS against files the demo writes
// and rotates; the table shows what the receiver's index says.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cis490/cis490/internal/buildinfo"
	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/gate"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/shipper"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/trust"
)

// Options for a demo run.
type Options struct {
	Dir      string        // empty: a new temporary folder
	Duration time.Duration // 0: until ctx ends (Ctrl-C)
	Out      io.Writer
	Log      *slog.Logger
}

// staleCommit is a made-up old release the demo receiver's gate refuses.
const staleCommit = "0000000000000000000000000000000000000001"

// simHost is a simulated lab host and what happens to it.
type simHost struct {
	name       string
	commit     string // "" = this build's; "-" = unstamped
	every      time.Duration
	rotate     string        // "rename", "copytruncate" or ""
	quietAfter time.Duration // crashes (stops without a word) after this long
	downAfter  time.Duration // shuts down cleanly (says so) after this long
}

func hosts() []simHost {
	return []simHost{
		{name: "lab-101", every: 150 * time.Millisecond, rotate: "rename"},
		{name: "lab-102", every: 400 * time.Millisecond, rotate: "copytruncate"},
		{name: "lab-103", commit: "-", every: 700 * time.Millisecond},
		{name: "lab-104", commit: staleCommit, every: 500 * time.Millisecond},
		{name: "lab-105", every: 300 * time.Millisecond, quietAfter: 3 * time.Second},
		{name: "lab-106", every: 300 * time.Millisecond, downAfter: 8 * time.Second},
	}
}

// Run runs the demo until the duration passes or ctx ends.
func Run(ctx context.Context, opt Options) error {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	dir := opt.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cis490-demo-"); err != nil {
			return fmt.Errorf("make demo folder: %w", err)
		}
	}
	header := []string{"cis490 demo in " + dir}
	fmt.Fprintln(opt.Out, header[0])
	cfg, self, err := receiverConfig(dir)
	if err != nil {
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
	rctx, stopReceiver := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReceiver()
	rdone := make(chan error, 1)
	go func() { rdone <- receiverd.Run(rctx, &cfg, ln, opt.Log.With("component", "receiver"), nil) }()
	url := "https://" + ln.Addr().String()
	// A blank line ends the header, before the table.
	header = append(header, append(announce(ctx, dir, url, ca, cfg.DataDir), "")...)
	fmt.Fprintln(opt.Out, strings.Join(header[1:], "\n"))

	hctx, stopHosts := context.WithCancel(ctx)
	defer stopHosts()
	if opt.Duration > 0 {
		hctx, stopHosts = context.WithTimeout(ctx, opt.Duration)
		defer stopHosts()
	}
	var wg sync.WaitGroup
	for _, h := range hosts() {
		lab, err := h.setup(ctx, dir, url, cfg.DataDir, ca, self)
		if err != nil {
			return err
		}
		wg.Go(func() { h.run(hctx, lab, opt.Log) })
	}
	// The demo publishes no release: what its gate accepts is known once.
	data := datadir.Dir(cfg.DataDir)
	view := newTable(opt.Out, data.Index(), gate.Load(cfg.Gate, release.Shelf{Store: release.Folder(data.Releases()), Key: cfg.ReleaseKey}, opt.Log).Summary(), header)
	detect := detector(&cfg, view, opt.Log)
	watch(ctx, hctx, view, detect, &cfg)
	wg.Wait()
	// The last word, with the hosts stopped, even after Ctrl-C.
	final, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelFinal()
	detect(final)
	view.print(final, &cfg)
	stopReceiver()
	if err := <-rdone; err != nil {
		return err
	}
	fmt.Fprintf(opt.Out, "\nstopped. data: %s  index: %s  host files and logs: %s\n",
		data.Logs(), data.Index(), filepath.Join(dir, "hosts"))
	return nil
}

// receiverConfig is the demo receiver's configuration in dir, with the
// commit the simulated hosts are stamped with (self) in its gate.
func receiverConfig(dir string) (cfg config.Receiver, self string, err error) {
	cfg = config.DefaultReceiver()
	cfg.DataDir = filepath.Join(dir, "receiver")
	cfg.ServerNames = []string{"localhost", "127.0.0.1"}
	cfg.Listen = "127.0.0.1:0"
	cfg.Limits.MinFree = 0
	self = buildinfo.Read().Commit
	if len(self) != 40 { // a build without VCS info: stamp the hosts with a stand-in release
		self = "1111111111111111111111111111111111111111"
	}
	cfg.Gate.Releases = []config.Release{{Version: "0.0.1", Commit: staleCommit}, {Version: "0.1.0", Commit: self}}
	cfg.Gate.Accept = 1
	// The detector, on a demo's time scale: silent after 5 s, not 30 min.
	cfg.FleetHealth.SilentAfter = config.Duration(5 * time.Second)
	cfg.FleetHealth.FatalWindow = config.Duration(10 * time.Minute)
	cfg.FleetHealth.ConfirmRuns = 1
	cfg.FleetHealth.Syslog = "off"
	cfg.Resolve(dir)
	if err := cfg.Validate(); err != nil {
		return cfg, "", err
	}
	return cfg, self, nil
}

// announce returns the lines that say where the receiver and its
// dashboard are; the table keeps them on screen.
func announce(ctx context.Context, dir, url string, ca *pki.CA, dataDir string) []string {
	lines := []string{"receiver on " + url}
	// The dashboard: an admin token to log in with (the browser will warn
	// about the demo's own CA).
	if tok, err := demoAdmin(ctx, ca, dataDir); err == nil {
		tokFile := filepath.Join(dir, "admin-token")
		if os.WriteFile(tokFile, []byte(tok+"\n"), 0o600) == nil {
			lines = append(lines, fmt.Sprintf("dashboard on %s/ui/ (log in with the token in %s)", url, tokFile))
		}
	}
	return lines
}

// detector runs the real detector once, its alerts kept for the table.
// It runs every 3 s here (every 5 min on a receiver) and writes
// alerts.jsonl, whose latest lines the table shows.
func detector(cfg *config.Receiver, view *table, log *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		res, err := fleethealth.Run(ctx, fleethealth.Options{DataDir: cfg.DataDir, Cfg: cfg.FleetHealth,
			Accepted: view.accepted, Log: log.With("component", "fleet-health")})
		if err != nil {
			if ctx.Err() == nil { // not a run cut short by Ctrl-C
				log.Error("fleet-health", "err", err)
			}
			return
		}
		view.alerts = append(view.alerts, res.Alerts...)
	}
}

// watch prints the table every second, and runs the detector every
// third, until the hosts stop (hctx); ctx bounds each run and print.
func watch(ctx, hctx context.Context, view *table, detect func(context.Context), cfg *config.Receiver) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-hctx.Done():
			return
		case <-tick.C:
			if i%3 == 0 {
				detect(ctx)
			}
			view.print(ctx, cfg)
		}
	}
}

// labHost is a simulated host's files and configuration.
type labHost struct {
	cfg    *config.LabHost
	client *transport.Client
	logs   []string
}

// setup writes the host's credentials, config and first log lines.
func (h simHost) setup(ctx context.Context, dir, url, dataDir string, ca *pki.CA, self string) (*labHost, error) {
	hdir := filepath.Join(dir, "hosts", h.name)
	if err := os.MkdirAll(filepath.Join(hdir, "log"), 0o755); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueHost(h.name, 90*24*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	g, err := trust.Local(dataDir).Issue(ctx, certPEM, time.Now()) // as `ca issue` does
	if err != nil {
		return nil, err
	}
	tok := g.Token
	caPEM := ca.CertPEM()
	files := map[string][]byte{"host.crt": certPEM, "host.key": keyPEM, "ca.crt": caPEM, "token": []byte(tok + "\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(hdir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	cfg := config.DefaultLabHost()
	cfg.Receiver, cfg.Host, cfg.StateDir = url, h.name, filepath.Join(hdir, "state")
	cfg.TLS = config.HostTLS{Cert: filepath.Join(hdir, "host.crt"), Key: filepath.Join(hdir, "host.key"),
		CA: filepath.Join(hdir, "ca.crt"), TokenFile: filepath.Join(hdir, "token")}
	cfg.Batch.MaxWait = config.Duration(500 * time.Millisecond)
	cfg.Heartbeat = config.Duration(2 * time.Second)
	lab := &labHost{cfg: &cfg, logs: []string{filepath.Join(hdir, "log", "syslog"), filepath.Join(hdir, "log", "app.log")}}
	for _, p := range lab.logs {
		cfg.Sources = append(cfg.Sources, config.Source{Path: p})
		// A real host has its logs before its shipper starts: without
		// them every simulated stream would warn "the source does not
		// exist (yet)" and fill the demo's first screen with a warning
		// that means nothing here.
		if err := appendLine(p, fmt.Sprintf("%s %s demo[%d]: booted\n", time.Now().UTC().Format(time.RFC3339Nano), h.name, os.Getpid())); err != nil {
			return nil, fmt.Errorf("write %s's first log line: %w", h.name, err)
		}
	}
	topt := transport.FromConfig(&cfg)
	switch h.commit {
	case "-":
		topt.Unstamped = true
	case "":
		topt.Commit = self
	default:
		topt.Commit = h.commit
	}
	if lab.client, err = transport.New(topt); err != nil {
		return nil, err
	}
	return lab, nil
}

// run writes and rotates the host's logs and ships them until ctx ends,
// the host crashes (goes quiet without a word), or it shuts down.
func (h simHost) run(ctx context.Context, lab *labHost, log *slog.Logger) {
	defer lab.client.Close()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	sh, err := shipper.New(shipper.Options{Config: lab.cfg, Client: lab.client, Log: log.With("host", h.name),
		ShuttingDown: func() bool { return h.downAfter > 0 }})
	if err != nil {
		log.Error("demo host", "host", h.name, "err", err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- sh.Run(sctx) }()
	start := time.Now()
	tick := time.NewTicker(h.every)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			stop()
			<-done
			return
		case <-tick.C:
		}
		up := time.Since(start)
		if h.downAfter > 0 && up > h.downAfter {
			stop() // a clean shutdown: the shipper tells the receiver
			<-done
			<-ctx.Done()
			return
		}
		if h.quietAfter > 0 && up > h.quietAfter {
			stop() // it crashes: no shutdown, no more heartbeats
			<-done
			<-ctx.Done()
			return
		}
		p := lab.logs[i%len(lab.logs)]
		line := fmt.Sprintf("%s %s demo[%d]: event %d\n", time.Now().UTC().Format(time.RFC3339Nano), h.name, os.Getpid(), i)
		if err := appendLine(p, line); err != nil {
			log.Error("demo write", "err", err)
		}
		if h.rotate != "" && i%40 == 39 {
			rotate(lab.logs[0], h.rotate)
		}
	}
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rotate rotates path the way logrotate does.
func rotate(path, how string) {
	switch how {
	case "rename":
		os.Rename(path, path+".1")
	case "copytruncate":
		if b, err := os.ReadFile(path); err == nil {
			os.WriteFile(path+".1", b, 0o644)
			os.Truncate(path, 0)
		}
	}
}

// demoAdmin makes the demo's admin as `ca issue --admin` would: a
// certificate in the CA's ledger (the dashboard lets in only admins who
// hold one) and a token, which it returns.
func demoAdmin(ctx context.Context, ca *pki.CA, data string) (string, error) {
	now := time.Now()
	certPEM, _, err := ca.IssueAdmin("demo", 24*time.Hour, now)
	if err != nil {
		return "", err
	}
	g, err := trust.Local(data).Issue(ctx, certPEM, now)
	return g.Token, err
}

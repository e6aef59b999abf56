package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/localsrv"
	"github.com/cis490/cis490/internal/receiverd"
	"github.com/cis490/cis490/internal/token"
)

// PGOptions say how StartCis490PG builds the postgres+s3 side.
type PGOptions struct {
	Receivers int    // 1, or more behind HAProxy
	VersityGW string // the versitygw binary (VersityGWPath)
	HAProxy   string // the haproxy binary (HAProxyPath), for more than one receiver
}

// VersityGWPath is the versitygw binary: flag when given, else the one
// on PATH. It is a Go tool pinned in tools/go.mod, not a Debian package.
func VersityGWPath(flag string) (string, error) {
	const how = "build it with `go build -modfile=tools/go.mod -o ~/bin/versitygw " + localsrv.VersityGWPackage + "` in the cis490 source tree, then put it on PATH or pass --versitygw"
	if flag != "" {
		if st, err := os.Stat(flag); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("--versitygw %s is not an executable file; %s", flag, how)
		}
		return flag, nil
	}
	path, err := exec.LookPath("versitygw")
	if err != nil {
		return "", fmt.Errorf("versitygw (the S3 server of the postgres+s3 targets) is not on PATH; %s", how)
	}
	return path, nil
}

// HAProxyPath finds Debian's haproxy, which is in /usr/sbin, off a normal
// user's PATH.
func HAProxyPath() (string, error) {
	if path, err := exec.LookPath("haproxy"); err == nil {
		return path, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
		return "", errors.New("haproxy is not installed; on Debian: apt-get install -y haproxy")
	}
	return "/usr/sbin/haproxy", nil
}

// StartCis490PG starts, in one temporary folder, a fresh PostgreSQL
// cluster (Debian's, fsync and synchronous_commit on) with an empty
// database, versitygw with an empty bucket, and p.Receivers real
// receivers on the postgres+s3 backend. With more than one, HAProxy in
// TCP mode spreads the hosts' connections over them with a PROXY v2
// header, and the target's address is HAProxy's. The receivers share one
// data_dir, for the CA; the tokens are made again in the database, where
// postgres+s3 receivers keep them. Target.Parts
// names every process, so that each one's CPU is measured. Close stops
// them all and removes the folder unless o.Keep.
//
// As root, PostgreSQL runs as nobody, who must be able to enter o.Dir.
func StartCis490PG(ctx context.Context, o Options, p PGOptions) (_ *Target, err error) {
	if p.Receivers < 1 {
		return nil, errors.New("bench: postgres+s3 needs at least one receiver")
	}
	keep := o.Keep
	o.Keep = true // each process's stop leaves the folder; the last step removes it
	if p.Receivers > 1 {
		o.ProxyProtocolFrom = []string{"127.0.0.1"}
	}
	t, err := PrepareCis490(o)
	if err != nil {
		return nil, err
	}
	var stops []func() error // in the order they started
	stopAll := func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		if !keep {
			errs = append(errs, os.RemoveAll(t.Dir))
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			stopAll()
		}
	}()
	t.Name = TargetPG
	if p.Receivers > 1 {
		t.Name, t.proxied = TargetPG2, true
	}
	if os.Geteuid() == 0 {
		// PostgreSQL runs as nobody and its folder is inside this one.
		if err := os.Chmod(t.Dir, 0o711); err != nil {
			return nil, err
		}
	}
	storage, parts, stop, err := startStorage(t.Dir, p.VersityGW)
	if err != nil {
		return nil, err
	}
	stops = append(stops, stop)
	t.opt.TOML += storage
	f, err := os.OpenFile(t.Conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(storage)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := sharedTokens(ctx, t); err != nil {
		return nil, err
	}

	if err := t.Launch(ctx, defaultWait); err != nil {
		return nil, err
	}
	stops = append(stops, t.stop)
	t.Parts = []Part{{"receiver", t.PID}}
	backends := []string{t.Addr}
	for i := 2; i <= p.Receivers; i++ {
		r, err := t.sibling(i)
		if err != nil {
			return nil, err
		}
		if err := r.Launch(ctx, defaultWait); err != nil {
			return nil, err
		}
		stops = append(stops, r.stop)
		t.Parts = append(t.Parts, Part{"receiver", r.PID})
		backends = append(backends, r.Addr)
	}
	t.Parts = append(t.Parts, parts...)
	if p.Receivers > 1 {
		h, err := startHAProxy(ctx, t, p.HAProxy, backends)
		if err != nil {
			return nil, err
		}
		stops = append(stops, h.stop)
		t.Parts = append(t.Parts, Part{"haproxy", h.PID})
		t.Addr = h.Addr
	}
	t.stop = stopAll
	return t, nil
}

// startStorage starts PostgreSQL and versitygw in folders under dir, with
// an empty database and bucket, and returns receiver.toml's [storage]
// section for them (the bucket's keys in a file in dir), their parts and
// what stops them.
func startStorage(dir, versitygw string) (section string, parts []Part, stop func() error, err error) {
	s, err := startPGS3(dir, versitygw)
	if err != nil {
		return "", nil, nil, err
	}
	if section, err = localsrv.StorageTOML(dir, s.DSN, s.S3); err != nil {
		s.stop()
		return "", nil, nil, err
	}
	return section, s.parts, s.stop, nil
}

// pgs3Servers are a fresh PostgreSQL cluster with an empty database and
// versitygw with an empty bucket.
type pgs3Servers struct {
	DSN   string
	S3    localsrv.S3
	parts []Part
	stop  func() error
}

// startPGS3 starts PostgreSQL and versitygw in folders under dir, with an
// empty database and bucket.
func startPGS3(dir, versitygw string) (_ *pgs3Servers, err error) {
	pg, err := localsrv.NewPG(dir)
	if err != nil {
		return nil, err
	}
	var s3 *localsrv.S3Proc
	stop := func() error {
		if s3 != nil {
			s3.Destroy()
		}
		pg.Destroy()
		return nil
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if err := pg.Start(); err != nil {
		return nil, err
	}
	dsn, err := pg.CreateDB("cis490")
	if err != nil {
		return nil, err
	}
	if s3, err = localsrv.NewS3(versitygw, dir); err != nil {
		return nil, err
	}
	bucket, err := s3.NewBucket("cis490-bench")
	if err != nil {
		return nil, err
	}
	return &pgs3Servers{DSN: dsn, S3: bucket, parts: []Part{{"postgres", pg.PID()}, {"s3", s3.PID()}}, stop: stop}, nil
}

// sibling prepares receiver number i beside t: its own port, config and
// log, the same data_dir, credentials and storage.
func (t *Target) sibling(i int) (*Target, error) {
	r := *t
	r.Parts, r.stop = nil, nil
	r.Conf = filepath.Join(t.Dir, fmt.Sprintf("receiver%d.toml", i))
	r.Log = filepath.Join(t.Dir, fmt.Sprintf("receiver%d.log", i))
	var err error
	if r.Addr, err = FreeAddr(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.Conf, []byte(receiverTOML(r.Addr, t.opt)+t.opt.TOML), 0o644); err != nil {
		return nil, err
	}
	return &r, nil
}

// startHAProxy starts HAProxy in TCP mode on a free port in front of
// backends, each connection sent with a PROXY v2 header naming the
// host, and returns once a GET /healthz through it answers 200.
func startHAProxy(ctx context.Context, t *Target, bin string, backends []string) (*Target, error) {
	h := &Target{Name: "haproxy", Kind: t.Kind, ServerName: t.ServerName, RootCAs: t.RootCAs, Hosts: t.Hosts, Dir: t.Dir,
		Log: filepath.Join(t.Dir, "haproxy.log")}
	var err error
	if h.Addr, err = FreeAddr(); err != nil {
		return nil, err
	}
	// roundrobin over connections: each host keeps one, so the hosts
	// split evenly between the receivers.
	conf := fmt.Sprintf(`# made by cis490 bench
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 5m
	timeout server 5m
frontend bench
	bind %s
	default_backend receivers
backend receivers
	balance roundrobin
`, h.Addr)
	for i, b := range backends {
		conf += fmt.Sprintf("\tserver r%d %s send-proxy-v2\n", i+1, b)
	}
	path := filepath.Join(t.Dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// -db: stay in the foreground, as bench's child. SIGTERM is its hard
	// stop; SIGUSR1 would wait for the hosts' connections to close.
	if err := h.start(ctx, []string{bin, "-db", "-f", path}, nil, true, func(c *http.Client) error {
		return probe(c, "https://"+h.Addr+"/healthz", "", http.StatusOK)
	}, syscall.SIGTERM, defaultWait); err != nil {
		return nil, err
	}
	return h, nil
}

// sharedTokens makes t's hosts' and admin's tokens again in the database
// its config names: PrepareCis490 made them in data_dir's token file,
// which postgres+s3 receivers do not read.
func sharedTokens(ctx context.Context, t *Target) error {
	cfg, err := config.LoadReceiver(t.Conf)
	if err != nil {
		return err
	}
	b, err := receiverd.OpenShared(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer b.Close()
	toks, err := b.Tokens(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range t.Hosts {
		if t.Hosts[i].Token, err = toks.Add(token.KindHost, t.Hosts[i].Name, now); err != nil {
			return err
		}
	}
	if t.Admin != nil {
		if t.Admin.Token, err = toks.Add(token.KindAdmin, t.Admin.Name, now); err != nil {
			return err
		}
	}
	return nil
}

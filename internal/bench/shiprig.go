package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/index"
)

// writeCreds writes the host's bundle as `cis490 ca issue --host` would.
func (r *shipRig) writeCreds() error {
	h := r.t.Hosts[0]
	dir := filepath.Join(r.dir, "host")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"host.crt": h.CertPEM, "host.key": h.KeyPEM, "ca.crt": r.t.CAPEM, "token": []byte(h.Token + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes a lab-host.toml for a shipper run and returns its
// path. State lives in state-<name>, so runs of one name resume.
func (r *shipRig) writeConfig(name string, sources []string, maxWait time.Duration) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# made by cis490 bench ship\nreceiver = %q\nhost = %q\nstate_dir = %q\n\n",
		"https://"+r.t.Addr, r.t.Hosts[0].Name, "state-"+name)
	fmt.Fprintf(&b, "[tls]\ncert = \"host/host.crt\"\nkey = \"host/host.key\"\nca = \"host/ca.crt\"\ntoken_file = \"host/token\"\n\n")
	fmt.Fprintf(&b, "[batch]\nmax_bytes = \"1MiB\"\nmax_wait = %q\n", durationTOML(maxWait))
	for _, s := range sources {
		fmt.Fprintf(&b, "\n[[source]]\npath = %q\n", s)
	}
	path := filepath.Join(r.dir, name+".toml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// durationTOML writes d the way lab-host.toml reads it.
func durationTOML(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// startShipper starts `cis490 ship --config conf`, its output in a log file
// beside the config.
func (r *shipRig) startShipper(conf string) (*proc, error) {
	argv := append(r.argv[:len(r.argv):len(r.argv)], "ship", "--config", conf)
	p, err := startProc(argv, r.o.Env, strings.TrimSuffix(conf, ".toml")+".log")
	if err != nil {
		return nil, err
	}
	r.progress("shipper pid %d: %s", p.pid(), conf)
	return p, nil
}

// profile starts perf record on the shipper when Options.Profile asks for
// it; what it returns stops it.
func (r *shipRig) profile(p *proc, name string) (stop func()) {
	if r.o.Profile == "" {
		return func() {}
	}
	out := filepath.Join(r.o.Profile, "ship-"+name+".perf.data")
	end, err := Profile(p.pid(), out)
	if err != nil {
		r.progress("profile %s: %v", name, err)
		return func() {}
	}
	return func() {
		if err := end(); err != nil {
			r.progress("profile %s: %v", name, err)
		} else {
			r.progress("profile: %s", out)
		}
	}
}

// markIndex remembers where the receiver's index ends, for countIndex.
func (r *shipRig) markIndex() error {
	cp, _, err := index.Dir{Path: r.ixDir}.Read(context.Background(), r.ixCP, time.Time{}, time.Time{}, func(*index.Line) {})
	if err != nil {
		return fmt.Errorf("read the receiver's index: %w", err)
	}
	r.ixCP = cp
	return nil
}

// countIndex hands fn every index line since markIndex.
func (r *shipRig) countIndex(fn func(index.Line)) error {
	cp, _, err := index.Dir{Path: r.ixDir}.Read(context.Background(), r.ixCP, time.Time{}, time.Time{}, func(l *index.Line) { fn(*l) })
	if err != nil {
		return fmt.Errorf("read the receiver's index: %w", err)
	}
	r.ixCP = cp
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

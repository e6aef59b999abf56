package bench

import (
	"context"
	"crypto/x509"
	_ "embed" // the nginx template
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
)

// nginxTemplate is a copy of shared/bench/nginx-peer.conf.template: TLS 1.3,
// client certificate required, one bearer token, WebDAV PUT under /up/, no
// fsync.
//
//go:embed nginx-peer.conf.template
var nginxTemplate string

// templateListen is the address the template listens on; bench replaces it
// with a free port.
const templateListen = "127.0.0.1:8443"

// NginxPath finds nginx and checks that it has the WebDAV module.
func NginxPath() (string, error) {
	path, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return "", errors.New("nginx is not installed; on Debian: apt-get install -y nginx")
		}
		path = "/usr/sbin/nginx"
	}
	out, err := exec.Command(path, "-V").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -V: %v: %s", path, err, out)
	}
	if !strings.Contains(string(out), "http_dav_module") {
		return "", fmt.Errorf("%s was built without http_dav_module (see nginx -V); install Debian's nginx", path)
	}
	return path, nil
}

// StartNginx starts nginx with the peer template, certificates from our own
// CA (a server certificate and a client certificate per host bench-<i>), one
// bearer token for all hosts, on a free loopback port. Each PUT goes to a new
// path under /up/<host>/. Close stops it and removes its folder, stored
// bodies included.
func StartNginx(ctx context.Context, o Options) (_ *Target, err error) {
	bin, err := NginxPath()
	if err != nil {
		return nil, err
	}
	tmpl := nginxTemplate
	if o.NginxTemplate != "" {
		b, err := os.ReadFile(o.NginxTemplate)
		if err != nil {
			return nil, err
		}
		tmpl = string(b)
	}
	if !strings.Contains(tmpl, "listen "+templateListen) {
		return nil, fmt.Errorf("the nginx template does not say `listen %s`; bench replaces that address with a free port", templateListen)
	}
	dir, err := os.MkdirTemp(o.Dir, "nginx-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !o.Keep {
			os.RemoveAll(dir)
		}
	}()
	run, certs, data := filepath.Join(dir, "run"), filepath.Join(dir, "certs"), filepath.Join(dir, "data")
	for _, d := range []string{run, certs, filepath.Join(data, ".tmp"), filepath.Join(data, "up")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	caDir := filepath.Join(certs, "ca")
	ca, err := pki.Init(caDir, serverNames, now)
	if err != nil {
		return nil, err
	}
	for from, to := range map[string]string{pki.CACertFile: "ca.pem", pki.ServerCertFile: "server.pem", pki.ServerKeyFile: "server.key"} {
		b, err := os.ReadFile(filepath.Join(caDir, from))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(certs, to), b, 0o600); err != nil {
			return nil, err
		}
	}
	tok, err := token.New()
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "nginx", Kind: KindNginx, ServerName: "localhost", RootCAs: x509.NewCertPool(), Dir: dir}
	t.RootCAs.AddCert(ca.Cert)
	if t.Hosts, err = makeHosts(ca, o.Hosts, now, func(string) (string, error) { return tok, nil }); err != nil {
		return nil, err
	}
	if t.Addr, err = FreeAddr(); err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("@RUN@", run, "@CERTS@", certs, "@DATA@", data, "@TOKEN@", tok,
		"listen "+templateListen, "listen "+t.Addr).Replace(tmpl)
	confPath := filepath.Join(run, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	t.Log = filepath.Join(run, "nginx-error.log")
	argv := []string{bin, "-p", run, "-e", t.Log, "-c", confPath}
	// SIGTERM is nginx's fast shutdown; SIGQUIT would wait for keep-alive
	// connections to close.
	if err := t.start(ctx, argv, o.Env, o.Keep, func(c *http.Client) error {
		return probe(c, "https://"+t.Addr+"/ping", tok, http.StatusNoContent)
	}, syscall.SIGTERM, defaultWait); err != nil {
		return nil, err
	}
	return t, nil
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/vfs"
)

// runCAServerCert issues the receiver a new server certificate from the
// fleet CA it already has: server_names can be corrected after `ca init`
// without a new trust root, so no host has to be given a new bundle.
func runCAServerCert(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ca server-cert", "[--config receiver.toml] [--server-name NAME]...",
		`Issues the receiver a new server certificate from its existing fleet CA for
server_names and the --server-name names and addresses, replacing tls.cert and
tls.key. Hosts keep trusting it (same CA); a running receiver serves it within
10 seconds, no restart needed.`)
	path, names, load := serverNameFlags(fs)
	cfg, err := load(args)
	if err != nil {
		return err
	}
	var was []string
	// As data_dir's owner: the receiver's user owns the CA folder and must
	// be able to read (and later renew) what is written there.
	err = vfs.AsOwnerOf(cfg.DataDir, func() error {
		ca, err := pki.Load(filepath.Dir(cfg.TLS.CA))
		if err != nil {
			return fmt.Errorf("%w; make the fleet CA first: cis490 ca init --config %s", err, *path)
		}
		if cur, err := pki.LoadCert(cfg.TLS.Cert); err == nil {
			was = pki.NamesOf(cur)
		}
		return ca.ReplaceServer(cfg.TLS.Cert, cfg.TLS.Key, cfg.ServerNames, time.Now())
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "the receiver's certificate now covers %s", strings.Join(cfg.ServerNames, ", "))
	if was != nil {
		fmt.Fprintf(env.Stdout, " (it covered %s)", strings.Join(was, ", "))
	}
	fmt.Fprintf(env.Stdout, "\nsame fleet CA, so hosts keep trusting it; a running receiver serves it within 10 seconds\n")
	if extra := notConfigured(*path, *names); len(extra) > 0 {
		// Renewal keeps the certificate's names, but `ca issue` writes
		// server_names[0] into bundles: the config should say them too.
		fmt.Fprintf(env.Stdout, "add %s to server_names in %s so the config says what the certificate covers\n", strings.Join(extra, ", "), *path)
	}
	return nil
}

// serverNameFlags adds --config and the repeatable --server-name to fs;
// load parses args and loads the receiver config with the names added to
// its server_names. Added, never instead of them: a bundle's receiver URL
// uses server_names, so the certificate must cover them.
func serverNameFlags(fs *flag.FlagSet) (path *string, names *[]string, load func(args []string) (*config.Receiver, error)) {
	path = fs.String("config", config.DefaultReceiverPath, "receiver config file")
	names = new([]string)
	fs.Func("server-name", "a name or address hosts reach the receiver by, besides server_names (repeat)", func(v string) error {
		if !slices.Contains(*names, v) {
			*names = append(*names, v)
		}
		return nil
	})
	load = func(args []string) (*config.Receiver, error) {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		cfg, err := config.LoadReceiver(*path)
		if err != nil || len(*names) == 0 {
			return cfg, err
		}
		cfg.ServerNames = append(cfg.ServerNames, notIn(cfg.ServerNames, *names)...)
		if err := cfg.Validate(); err != nil {
			return nil, usagef("--server-name: %v", err)
		}
		return cfg, nil
	}
	return path, names, load
}

// notConfigured lists the names the receiver config at path does not have
// in server_names.
func notConfigured(path string, names []string) []string {
	cfg, err := config.LoadReceiver(path)
	if err != nil {
		return nil
	}
	return notIn(cfg.ServerNames, names)
}

// notIn lists the names that are not in have, ignoring case as DNS does.
func notIn(have, names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.ContainsFunc(have, func(c string) bool { return strings.EqualFold(c, n) }) {
			out = append(out, n)
		}
	}
	return out
}

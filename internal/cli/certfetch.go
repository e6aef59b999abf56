package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/transport"
)

func runCertFetch(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "cert-fetch", "[--config lab-host.toml] [--force]",
		`Renews this host's certificate when less than a third of its life is left
(with a little per-host jitter, so a fleet does not renew at once): a new key,
a request authenticated by the current certificate and the host token, and
the new key and certificate put in place together. The shipper picks them up
without a restart. Nothing due: exit 0, saying when it will be. An expired
certificate still renews within the receiver's grace period; past it, this
says how to enroll again (exit 1).`)
	path := fs.String("config", config.DefaultLabHostPath, "lab host config file")
	force := fs.Bool("force", false, "renew now, whatever is left")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.LoadLabHost(*path)
	if err != nil {
		return err
	}
	// One run at a time (the timer and a maintainer's --force), and a swap
	// a crash interrupted is finished first.
	unlock, err := pki.Lock(cfg.TLS.Key)
	if err != nil {
		return err
	}
	defer unlock()
	if err := pki.CompletePair(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
		return fmt.Errorf("finish an interrupted renewal: %w", err)
	}
	cert, err := pki.LoadCert(cfg.TLS.Cert)
	if err != nil {
		return err
	}
	now := time.Now()
	due := renewalDue(cert.NotBefore, cert.NotAfter, cfg.Host)
	if !*force && now.Before(due) {
		fmt.Fprintf(env.Stdout, "certificate valid until %s; renewal due at %s\n", cert.NotAfter.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339))
		return nil
	}
	csrPEM, keyPEM, err := pki.NewCSR(cfg.Host)
	if err != nil {
		return err
	}
	c, err := transport.New(transport.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer c.Close()
	got, err := c.RenewCert(ctx, csrPEM)
	var te *transport.Error
	if errors.As(err, &te) && te.Status == 401 {
		return fmt.Errorf("the receiver will not renew this certificate: %s", te.Message)
	}
	if err != nil {
		return fmt.Errorf("renew the certificate: %w", err)
	}
	// Both written in full, then swapped key first: until both are in
	// place the shipper's reload cannot pair them and keeps the old pair,
	// and a crash in between is finished by the next load.
	if err := pki.SwapPair(cfg.TLS.Cert, cfg.TLS.Key, []byte(got.Cert), keyPEM); err != nil {
		return fmt.Errorf("put the renewed certificate in place: %w", err)
	}
	fmt.Fprintf(env.Stdout, "renewed: the certificate is valid until %s\n", got.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// renewalDue is when a certificate should be renewed: with a third of its
// life left, less up to a twentieth of its life by a hash of the host, so
// a fleet's renewals spread out.
func renewalDue(notBefore, notAfter time.Time, host string) time.Time {
	life := notAfter.Sub(notBefore)
	h := fnv.New32a()
	h.Write([]byte(host))
	jitter := time.Duration(uint64(h.Sum32()) % uint64(max(life/20, 1)))
	return notAfter.Add(-life/3 - jitter)
}

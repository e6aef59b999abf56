package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"github.com/cis490/cis490/internal/autoupdate"
	"github.com/cis490/cis490/internal/buildinfo"
	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/transport"
)

func runAutoupdate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "autoupdate", "[--config lab-host.toml] [--root /var/lib/cis490/bin]",
		`Fetches the latest release, verifies its signature with release_key from
lab-host.toml, and installs it only when newer and when this host is in its
rollout: beside the current binary, behind the symlink ROOT/current (which
/usr/bin/cis490 of the package, or /usr/local/bin/cis490 of
install-lab-host.sh, points through), then restarts the shipper and
rolls back if the new binary's doctor fails a check the old one passed — also
after a crash half-way. Already current: exit 0 quietly.`)
	path := fs.String("config", config.DefaultLabHostPath, "lab host config file")
	root := fs.String("root", "/var/lib/cis490/bin", "where versions are installed")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadLabHost(*path)
	if err != nil {
		return err
	}
	if cfg.ReleaseKey == "" {
		// Off, not failing: a fleet updated by packages has no key, and its
		// timer must stay green. The doctor reports it.
		fmt.Fprintf(env.Stdout, "autoupdate is off: %s has no release_key (it installs nothing it cannot verify); set release_key in receiver.toml and re-enroll, or add the public key `cis490 release keygen` printed\n", *path)
		return nil
	}
	c, err := transport.New(transport.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer c.Close()
	arch := runtime.GOARCH
	if arch == "arm" {
		arch = "armv7"
	}
	out, err := autoupdate.Run(ctx, autoupdate.Options{
		Client: c, PublicKey: cfg.ReleaseKey, Host: cfg.Host, Platform: "linux-" + arch,
		Current: buildinfo.Read().Version, Root: *root,
		Restart: func(ctx context.Context) error {
			return exec.CommandContext(ctx, "systemctl", "restart", "cis490-shipper.service").Run()
		},
		Doctor: func(ctx context.Context, bin string) (autoupdate.Checks, error) { return doctorChecks(ctx, bin, *path) },
	})
	if err != nil {
		return err
	}
	switch out.Result {
	case "updated":
		fmt.Fprintf(env.Stdout, "updated %s → %s\n", out.From, out.To)
		if out.Detail != "" {
			fmt.Fprintln(env.Stdout, out.Detail)
		}
	case "unmanaged":
		fmt.Fprintln(env.Stdout, out.Detail)
	}
	return nil
}

// doctorChecks runs a binary's doctor and returns the checks it ran and
// those that failed.
func doctorChecks(ctx context.Context, bin, cfg string) (autoupdate.Checks, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, bin, "doctor", "--json", "--config", cfg).Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) { // exit 1 is a doctor with failures
		return autoupdate.Checks{}, err
	}
	var rep struct {
		Checks []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return autoupdate.Checks{}, fmt.Errorf("%s doctor --json: %w", bin, err)
	}
	var out autoupdate.Checks
	for _, c := range rep.Checks {
		out.Ran = append(out.Ran, c.Name)
		if c.Status == "fail" {
			out.Failing = append(out.Failing, c.Name)
		}
	}
	return out, nil
}

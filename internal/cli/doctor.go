package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/doctor"
	"github.com/cis490/cis490/internal/transport"
)

func runDoctor(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "doctor", "[--config lab-host.toml] [--json]",
		`Checks this lab host: its config and credentials, the way to the receiver (DNS,
TCP, TLS, an authenticated request), its clock and code against the receiver's,
a cloned identity, the shipper's backlog, free space and its systemd units.
Each check says what it found and how to fix it; all within 10 s. Exit 1 when
a check fails.`)
	path := fs.String("config", config.DefaultLabHostPath, "lab host config file")
	asJSON := fs.Bool("json", false, "print the report as JSON (schema in the README)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	r := doctor.Run(ctx, doctor.Options{Config: *path})
	var err error
	if *asJSON {
		err = r.WriteJSON(env.Stdout)
	} else {
		err = r.WriteTable(env.Stdout)
	}
	if err != nil {
		return err
	}
	if !r.OK {
		return &exitError{code: 1}
	}
	return nil
}

func runShipHealthCheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "ship-health-check", "[--config lab-host.toml]",
		`Runs the doctor and sends its JSON report to the receiver (PUT /v1/host-health),
through the shipper's own transport. Exit 0 when the receiver has it, whatever
it says; 1 when it could not be delivered. cis490-doctor-check.timer runs it
daily.`)
	path := fs.String("config", config.DefaultLabHostPath, "lab host config file")
	tries := fs.Int("tries", 4, "delivery attempts, 2 s, 6 s and 18 s apart (with jitter)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *tries < 1 || *tries > 10 {
		return usagef("--tries %d: give 1 to 10", *tries)
	}
	r := doctor.Run(ctx, doctor.Options{Config: *path})
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		return err
	}
	cfg, err := config.LoadLabHost(*path)
	if err != nil {
		return err
	}
	c, err := transport.New(transport.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer c.Close()
	// A few tries with growing pauses: at midnight a whole fleet reports
	// at once (spread over 30 minutes), and a receiver that is briefly
	// busy must not cost a host its day's report.
	for try, pause := 1, 2*time.Second; ; try, pause = try+1, pause*3 {
		err = c.PutHostHealth(ctx, buf.Bytes())
		if err == nil || try >= *tries || ctx.Err() != nil {
			break
		}
		env.Log.Warn("doctor report not delivered; trying again", "try", try, "in", pause, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(pause + time.Duration(rand.Int64N(int64(pause)))):
		}
	}
	if err != nil {
		return fmt.Errorf("the doctor's report (%s) did not reach the receiver: %w", r.Summary, err)
	}
	env.Log.Info("doctor report delivered", "host", cfg.Host, "summary", r.Summary)
	return nil
}

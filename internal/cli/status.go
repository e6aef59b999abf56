package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/human"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/wire"
)

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "status", "[--admin DIR] [--receiver URL] [--json]",
		`Prints the fleet as the receiver sees it (GET /v1/fleet): one row per host,
worst first — state and why, last seen, last ok, commit (* = a release the gate
no longer accepts), requests in 24 h by status class and the latest doctor
summary — then each symptom in full (! = alerted, ? = awaiting confirmation),
and the active silences with who set them. DIR is an admin bundle from
`+"`cis490 ca issue --admin NAME`"+` (admin.crt, admin.key, ca.crt, token, receiver.url).`)
	dir := fs.String("admin", envOr("CIS490_ADMIN", "."), "admin bundle folder DIR, from ca issue --admin ($CIS490_ADMIN sets the default)")
	recv := fs.String("receiver", "", "receiver URL (default: the bundle's receiver.url)")
	asJSON := fs.Bool("json", false, "print the receiver's JSON (control characters in it escaped)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	c, err := adminClient(env, *dir, *recv, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.GetJSON(ctx, wire.PathFleet, &raw); err != nil {
		return err
	}
	if *asJSON {
		// JSON may carry C1 controls and bidi overrides unescaped (a
		// commit is the host's own header); as \u escapes it means the
		// same to a program and nothing to a terminal.
		out, rest := human.AppendVisible(nil, raw, true)
		_, err := fmt.Fprintf(env.Stdout, "%s\n", human.AppendCut(out, rest))
		return err
	}
	var v fleethealth.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("the receiver's fleet view is not what this version reads: %w", err)
	}
	return writeStatus(env.Stdout, &v, isTerminal(env.Stdout))
}

// adminClient talks to the receiver with the admin bundle in dir (from
// `ca issue --admin`); recv overrides the bundle's receiver.url. Each
// request may take up to timeout (an upload of a release, minutes).
func adminClient(env *Env, dir, recv string, timeout time.Duration) (*transport.Client, error) {
	u := recv
	if u == "" {
		b, err := os.ReadFile(filepath.Join(dir, AdminReceiverFile))
		if err != nil {
			return nil, fmt.Errorf("no receiver URL: pass --receiver https://host:8443, or --admin with the folder `cis490 ca issue --admin NAME` made (%w)", err)
		}
		u = strings.TrimSpace(string(b))
	}
	c, err := transport.New(transport.Options{
		Receiver: u, Host: "admin",
		CertFile: filepath.Join(dir, token.KindAdmin+".crt"), KeyFile: filepath.Join(dir, token.KindAdmin+".key"),
		CAFile: filepath.Join(dir, "ca.crt"), TokenFile: filepath.Join(dir, "token"),
		Timeout: timeout, Log: env.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("admin credentials in %s: %w", dir, err)
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// isTerminal: w is a terminal that may be given colour.
func isTerminal(w io.Writer) bool { return isTTY(w) && os.Getenv("NO_COLOR") == "" }

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeStatus prints the fleet table; colour only on a terminal. Every
// string in the view is shown through human.Visible: doctor summaries,
// commits and symptom details quote what hosts sent, and the receiver's
// JSON is not trusted to have cleaned them.
func writeStatus(w io.Writer, v *fleethealth.View, colour bool) error {
	vis := human.Visible
	paint := func(code, s string) string {
		if !colour {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	for _, s := range v.Fleet {
		fmt.Fprintf(w, "%s %s: %s\n", paint("1;31", "FLEET"), vis(s.Symptom), vis(s.Detail))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tWHY\tLAST SEEN\tLAST OK\tCOMMIT\t24H 2xx/4xx/5xx\tCERT\tDOCTOR")
	for _, r := range v.Hosts {
		// State and why as fleethealth.HostState wrote them, the same
		// words the dashboard and the demo show for this host.
		state := vis(r.State)
		switch state {
		case fleethealth.StateSick:
			state = paint("31", state)
		case fleethealth.StateSilent:
			state = paint("33", state)
		case fleethealth.StateOff:
			state = paint("2", state)
		}
		commit := vis(human.Commit(r.Commit))
		if r.Stale {
			commit += "*"
		}
		doctor := "-"
		if r.Doctor != nil {
			doctor = vis(r.Doctor.Summary)
			if doctor == "" {
				doctor = "snapshot"
			}
			doctor += " (" + human.Ago(v.AsOf, r.Doctor.Received) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d/%d\t%s\t%s\n", vis(r.Host), state, vis(r.Why), human.Ago(v.AsOf, r.LastSeen), human.Ago(v.AsOf, r.LastOK),
			commit, r.Requests24h["2xx"], r.Requests24h["4xx"], r.Requests24h["5xx"], expires(v.AsOf, r.CertExpires), doctor)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Each symptom in full, with its fix; the mark says whether it has
	// been alerted (!) or awaits confirmation (?).
	for _, r := range v.Hosts {
		for _, s := range r.Symptoms {
			fmt.Fprintf(w, "%s %s%s: %s\n", vis(r.Host), vis(s.Symptom), s.Mark(), vis(s.Detail))
		}
	}
	if len(v.Silences) > 0 {
		fmt.Fprintln(w, "\nsilenced (alerts they match are written, not sent):")
		if err := writeSilences(w, v.Silences, v.AsOf); err != nil {
			return err
		}
	}
	if v.DetectorRan.IsZero() {
		fmt.Fprintln(w, "(the fleet-health detector has not run yet: enable cis490-fleet-health.timer, or run `cis490 fleet-health` as the receiver's user)")
	} else if v.AsOf.Sub(v.DetectorRan) > 15*time.Minute {
		fmt.Fprintf(w, "(the fleet-health detector last ran %s: check cis490-fleet-health.timer)\n", human.Ago(v.AsOf, v.DetectorRan))
	}
	return nil
}

// expires says when a certificate expires, relative to now.
func expires(now, t time.Time) string {
	switch d := t.Sub(now); {
	case t.IsZero():
		return "-"
	case d < 0:
		return "expired " + human.Ago(now, t)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh", int(d.Hours()))
	default:
		return fmt.Sprintf("in %dd", int(d.Hours()/24))
	}
}

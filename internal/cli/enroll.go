package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/names"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/transport"
	"github.com/cis490/cis490/internal/vfs"
	"github.com/cis490/cis490/internal/wire"
)

func runEnroll(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "enroll", "--receiver URL --host NAME [--token-file FILE|-] [--dir /etc/cis490] [--state-dir DIR] [--source PATH]...",
		`Joins this host to the fleet with a join token from `+"`cis490 token create`"+`, read from a
file or standard input (never the command line: other users can read it). It
makes a key that never leaves this host, sends a certificate request over TLS
pinned to the CA the token names, and writes host.key, host.crt, ca.crt and
token (the key and token 0640: root and DIR's group, the shipper's, read
them) and, if there is none, lab-host.toml into DIR. On a terminal it asks
for the token without showing what is typed.
Enrolling again replaces the host's credentials and revokes the old ones.`)
	recv := fs.String("receiver", "", "the receiver, https://host:port")
	hostFlag := fs.String("host", "", "this host's name in the fleet (default: the hostname)")
	tokFile := fs.String("token-file", "-", "the join token's file, or - for standard input")
	dir := fs.String("dir", "/etc/cis490", "where to write the credentials and lab-host.toml")
	layout := layoutFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (the token goes in a file or on standard input, never the command line)", fs.Arg(0))
	}
	u, err := url.Parse(*recv)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return usagef("--receiver %q: give https://host:port", *recv)
	}
	name := *hostFlag
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return usagef("give --host NAME")
		}
	}
	host, err := names.Host(name)
	if err != nil {
		return usagef("host name %q: %v; give --host NAME", name, err)
	}
	// Outside an etc folder this is someone trying cis490 in a folder of their
	// own, without root: state and logs go where they can write.
	where, local := *layout, !isSystemPath(*dir)
	where.journal = !local && hasJournal()
	if local {
		if where, err = where.localDefaults(*dir); err != nil {
			return err
		}
	}
	tok, fp, err := readJoinToken(ctx, env, *tokFile)
	if err != nil {
		return err
	}
	// Make sure the credentials can be written before the token is spent.
	if err := checkWritable(*dir); err != nil {
		return err
	}
	csrPEM, keyPEM, err := pki.NewCSR(host)
	if err != nil {
		return err
	}
	got, err := transport.Enroll(ctx, u, tok, fp, host, csrPEM)
	if err != nil {
		return err
	}
	// An operator's own lab-host.toml is kept: say where things go only
	// when this one is new.
	_, err = os.Stat(filepath.Join(*dir, "lab-host.toml"))
	fresh := errors.Is(err, os.ErrNotExist)
	if err := writeCredentials(*dir, keyPEM, got, labHostTOML(u.String(), host, got.ReleaseKey, where)); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "enrolled %s with %s; credentials in %s (certificate valid until %s)\n", host, u.Host, *dir, got.NotAfter.Format(time.RFC3339))
	if local && fresh {
		sayWhere(env.Stdout, *dir, where, local)
	}
	return nil
}

// readJoinToken reads the join token from file (- is standard input; on a
// terminal, asked for without echo) and returns it with the fingerprint of
// the CA it names.
func readJoinToken(ctx context.Context, env *Env, file string) (tok, fp string, err error) {
	var raw []byte
	switch f, _ := env.Stdin.(*os.File); {
	case file != "-":
		raw, err = os.ReadFile(file)
	case f != nil:
		raw, err = readSecret(ctx, env, f)
	default:
		raw, err = io.ReadAll(io.LimitReader(env.Stdin, 4096))
	}
	if err != nil {
		return "", "", fmt.Errorf("read the join token: %w", err)
	}
	tok = strings.TrimSpace(string(raw))
	fp, ok := token.JoinFingerprint(tok)
	if !ok {
		return "", "", errors.New("that is not a join token (they begin c490j_); make one with `cis490 token create` on the receiver")
	}
	return tok, fp, nil
}

// readSecret reads f to its end, or, when f is a terminal, asks for one
// line and reads it with echo off, so the token is not left on screen.
func readSecret(ctx context.Context, env *Env, f *os.File) ([]byte, error) {
	restore, ok := hideInput(f)
	if !ok {
		return io.ReadAll(io.LimitReader(f, 4096))
	}
	defer restore()
	fmt.Fprint(env.Stderr, "join token (from `cis490 token create`; typing is not shown): ")
	type line struct {
		s   string
		err error
	}
	got := make(chan line, 1)
	go func() {
		s, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
		got <- line{s, err}
	}()
	select {
	case l := <-got:
		fmt.Fprintln(env.Stderr) // the Enter typed was not echoed either
		if l.err != nil && !errors.Is(l.err, io.EOF) {
			return nil, l.err
		}
		return []byte(l.s), nil
	case <-ctx.Done():
		// Ctrl-C: the read cannot be interrupted, but the terminal must
		// get its echo back before the process exits.
		fmt.Fprintln(env.Stderr)
		return nil, ctx.Err()
	}
}

// checkWritable makes dir and proves a file can be written there.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot write the credentials to %s: %w", dir, err)
	}
	probe := filepath.Join(dir, ".enroll-test")
	if err := vfs.WriteFileAtomic(vfs.OS{}, probe, nil, 0o600); err != nil {
		return fmt.Errorf("cannot write the credentials to %s: %w", dir, err)
	}
	os.Remove(probe)
	return nil
}

// writeCredentials writes the enrolled host's key, certificate, CA and
// token into dir, and labHost as lab-host.toml unless one is there: an
// operator's own config survives enrolling again.
func writeCredentials(dir string, keyPEM []byte, got *wire.Enrolled, labHost string) error {
	files := []bundleFile{
		// Secrets are 0640: the folder's group reads them (the installer
		// makes /etc/cis490 setgid to the shipper's group).
		{"host.key", keyPEM, 0o640},
		{"host.crt", []byte(got.Cert), 0o644},
		{"ca.crt", []byte(got.CA), 0o644},
		{"token", []byte(got.Token + "\n"), 0o640},
	}
	for _, f := range files {
		if err := vfs.WriteFileAtomic(vfs.OS{}, filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	toml := filepath.Join(dir, "lab-host.toml")
	if _, err := os.Stat(toml); errors.Is(err, os.ErrNotExist) {
		return vfs.WriteFileAtomic(vfs.OS{}, toml, []byte(labHost), 0o644)
	}
	return nil
}

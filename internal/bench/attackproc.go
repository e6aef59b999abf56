package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The attacker runs in a child process (`cis490 bench attack-run`), at a
// lower CPU priority (nice) by default: a real attacker brings its own
// CPUs, and on this 2-CPU machine an attacker in the bench's own process
// would take the CPU the honest hosts and the receiver need, measuring
// the bench rather than the receiver. The child's CPU time is its own, so
// the report shows what the attack cost its side too.

// AttackSpec is what the attacker child is told: where the receiver is,
// the attacking host's credentials, and for how long.
type AttackSpec struct {
	Attack     string
	Addr       string
	ServerName string
	CAPEM      []byte
	Host       string
	CertPEM    []byte
	KeyPEM     []byte
	Token      string
	// JoinToken and CAFingerprint let the renew attack's honest
	// enrollments through.
	JoinToken, CAFingerprint string
	Duration                 time.Duration
}

// attackOutcome is what the child reports back.
type attackOutcome struct {
	Attacker map[string]int64
	Peak     int64
	Enrolls  *Enrolls
	Err      string
}

// RunAttacker is the child's side: it runs the attack specPath names for
// its duration and writes what came of it as JSON to outPath.
func RunAttacker(ctx context.Context, specPath, outPath string) error {
	b, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var s AttackSpec
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("read %s: %w", specPath, err)
	}
	a := findAttack(s.Attack)
	if a == nil {
		return fmt.Errorf("no attack %q", s.Attack)
	}
	cert, err := tls.X509KeyPair(s.CertPEM, s.KeyPEM)
	if err != nil {
		return fmt.Errorf("the attacking host's credentials: %w", err)
	}
	t := &Target{Name: "cis490", Kind: KindCis490, Addr: s.Addr, ServerName: s.ServerName, RootCAs: x509.NewCertPool(), CAPEM: s.CAPEM}
	if !t.RootCAs.AppendCertsFromPEM(s.CAPEM) {
		return errors.New("the fleet CA in the attack's spec is not PEM")
	}
	rig := &attackRig{t: t, attacker: Host{Name: s.Host, Cert: cert, Token: s.Token}, tally: &tally{m: map[string]int64{}},
		joinToken: s.JoinToken, caFingerprint: s.CAFingerprint}
	actx, cancel := context.WithTimeout(ctx, s.Duration)
	defer cancel()
	var out attackOutcome
	if err := a.run(actx, rig); err != nil {
		out.Err = err.Error()
	}
	out.Attacker, out.Peak = rig.tally.snapshot()
	out.Enrolls = rig.enrolls
	if b, err = json.Marshal(out); err != nil {
		return err
	}
	return os.WriteFile(outPath, b, 0o644)
}

// attackerProc is a running attacker child.
type attackerProc struct {
	p   *proc
	out string // where it writes its outcome
}

// startAttacker starts the child that runs a against t for d, as the
// host rig.attacker, niced to nice (0: the bench's own priority).
func startAttacker(o AttackOptions, t *Target, rig *attackRig, a *attack, d time.Duration) (*attackerProc, error) {
	h := rig.attacker
	spec := AttackSpec{Attack: a.name, Addr: t.Addr, ServerName: t.ServerName, CAPEM: t.CAPEM, Host: h.Name, CertPEM: h.CertPEM,
		KeyPEM: h.KeyPEM, Token: h.Token, JoinToken: rig.joinToken, CAFingerprint: rig.caFingerprint, Duration: d}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	specPath, out := filepath.Join(t.Dir, "attack-spec.json"), filepath.Join(t.Dir, "attack-outcome.json")
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return nil, err
	}
	var argv []string
	if o.Nice != 0 {
		argv = []string{"nice", "-n", strconv.Itoa(o.Nice)}
	}
	argv = append(append(argv, o.Command...), "bench", "attack-run", "--spec", specPath, "--out", out)
	p, err := startProc(argv, o.Env, filepath.Join(t.Dir, "attacker.log"))
	if err != nil {
		return nil, fmt.Errorf("start the attacker: %w", err)
	}
	return &attackerProc{p: p, out: out}, nil
}

// wait waits for the child to end by itself (its time is up), or kills it
// when ctx ends, and puts what it reported into ph.
func (ap *attackerProc) wait(ctx context.Context, ph *AttackPhase) {
	select {
	case <-ap.p.done:
	case <-ctx.Done():
		ap.p.kill()
	}
	ph.AttackerCPU = usageOf(ap.p.cmd.ProcessState).CPU()
	if ap.p.werr != nil {
		ph.Err = fmt.Errorf("the attacker exited: %w; its log: %s", ap.p.werr, tail(ap.p.log))
		return
	}
	var out attackOutcome
	b, err := os.ReadFile(ap.out)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		ph.Err = fmt.Errorf("the attacker's outcome: %w", err)
		return
	}
	ph.Attacker, ph.AttackerPeak, ph.Enrolls = out.Attacker, out.Peak, out.Enrolls
	if out.Err != "" {
		ph.Err = errors.New(out.Err)
	}
}

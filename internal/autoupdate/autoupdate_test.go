package autoupdate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/config"
	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/receivertest"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/testenv"
	"github.com/cis490/cis490/internal/transport"
)

const commit = "3333333333333333333333333333333333333333"

// rig is a real receiver with releases published on its disk, and a
// host whose doctor and restart the test scripts.
type rig struct {
	t        *testing.T
	r        *receivertest.Receiver
	priv     string
	pub      string
	opt      Options
	failing  map[string][]string // the doctor's failing checks, by version
	restarts int
	pad      int // bytes added to each published binary
}

func newRig(t *testing.T) *rig {
	priv, pub, _ := release.KeyGen()
	// The receiver offers only releases its release_key verifies.
	r := receivertest.Start(t, func(c *config.Receiver) { c.ReleaseKey = pub })
	c := r.IssueHost("lab-1", time.Now(), 24*time.Hour)
	client, err := transport.New(transport.Options{Receiver: r.URL, Host: "lab-1", CertFile: c.Cert, KeyFile: c.Key, CAFile: c.CA, TokenFile: c.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	g := &rig{t: t, r: r, priv: priv, pub: pub, failing: map[string][]string{}}
	root := filepath.Join(t.TempDir(), "bin")
	os.MkdirAll(filepath.Join(root, "1.0.0"), 0o755)
	os.WriteFile(filepath.Join(root, "1.0.0", "cis490"), []byte("binary 1.0.0"), 0o755)
	os.Symlink("1.0.0", filepath.Join(root, "current"))
	g.opt = Options{Client: client, PublicKey: pub, Host: "lab-1", Platform: "linux-amd64", Current: "1.0.0", Root: root,
		Restart: func(context.Context) error { g.restarts++; return nil },
		Doctor: func(_ context.Context, bin string) (Checks, error) {
			failing := g.failing[filepath.Base(filepath.Dir(bin))]
			ran := append([]string(nil), baseChecks...)
			for _, f := range failing {
				if !slices.Contains(ran, f) {
					ran = append(ran, f) // a check only this version has
				}
			}
			return Checks{Ran: ran, Failing: failing}, nil
		}}
	return g
}

// baseChecks are the checks every version's doctor runs in these tests.
var baseChecks = []string{"receiver-tcp", "receiver-auth", "tls-chain"}

// publish writes a signed release straight into the receiver's releases.
func (g *rig) publish(version string, rollout int, tamper bool) {
	g.t.Helper()
	dir := g.t.TempDir()
	bin := filepath.Join(dir, "cis490-linux-amd64")
	body := append([]byte("binary "+version), make([]byte, g.pad)...)
	os.WriteFile(bin, body, 0o755)
	signed, _, err := release.Sign(g.priv, version, commit, rollout, []string{bin}, time.Now())
	if err != nil {
		g.t.Fatal(err)
	}
	rel := filepath.Join(datadir.Dir(g.r.DataDir).Releases(), version)
	os.MkdirAll(rel, 0o755)
	if tamper {
		body = append(body, " with something added"...)
	}
	os.WriteFile(filepath.Join(rel, "cis490-linux-amd64"), body, 0o644)
	os.WriteFile(filepath.Join(rel, release.ManifestFile), signed, 0o644)
}

func (g *rig) current() string {
	l, _ := os.Readlink(filepath.Join(g.opt.Root, "current"))
	return l
}

func TestUpdateAndRollback(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	if out, err := Run(ctx, g.opt); err != nil || out.Result != "current" {
		t.Fatalf("nothing published: %+v %v", out, err)
	}
	g.publish("1.1.0", 100, true)
	if out, err := Run(ctx, g.opt); err == nil || out.Result != "refused" || g.current() != "1.0.0" {
		t.Fatalf("a tampered artifact: %+v %v; current %s", out, err, g.current())
	}
	if _, err := os.Stat(g.opt.Binary("1.1.0")); err == nil {
		t.Fatal("a refused binary was installed")
	}
	g.publish("1.1.0", 100, false)
	other := g.opt
	_, other.PublicKey, _ = release.KeyGen()
	if out, err := Run(ctx, other); err == nil || out.Result != "refused" || g.current() != "1.0.0" {
		t.Fatalf("another release key: %+v %v", out, err)
	}
	// The receiver was unreachable before and after: not the new binary's fault.
	g.failing["1.0.0"] = []string{"receiver-tcp"}
	g.failing["1.1.0"] = []string{"receiver-tcp"}
	out, err := Run(ctx, g.opt)
	if err != nil || out.Result != "updated" || g.current() != "1.1.0" || g.restarts != 1 {
		t.Fatalf("update: %+v %v; current %s, %d restarts", out, err, g.current(), g.restarts)
	}
	g.opt.Current = "1.1.0"
	if out, err := Run(ctx, g.opt); err != nil || out.Result != "current" {
		t.Fatalf("already current: %+v %v", out, err)
	}
	// 1.2.0's doctor fails a check 1.1.0 passes: rolled back.
	g.publish("1.2.0", 100, false)
	g.failing["1.2.0"] = []string{"receiver-tcp", "receiver-auth"}
	out, err = Run(ctx, g.opt)
	if err == nil || out.Result != "rolled-back" || g.current() != "1.1.0" || fmt.Sprint(out.Failing) != "[receiver-auth]" || g.restarts != 3 {
		t.Fatalf("rollback: %+v %v; current %s, %d restarts", out, err, g.current(), g.restarts)
	}
	b, _ := os.ReadFile(filepath.Join(g.opt.Root, "last-update.json"))
	if !strings.Contains(string(b), `"result": "rolled-back"`) {
		t.Fatalf("the outcome kept for the doctor: %s", b)
	}
	// 1.3.0's doctor has a check 1.1.0 did not run, and it fails: the
	// update is kept, and the outcome names the new check.
	g.publish("1.3.0", 100, false)
	g.failing["1.3.0"] = []string{"receiver-tcp", "sources"}
	out, err = Run(ctx, g.opt)
	if err != nil || out.Result != "updated" || g.current() != "1.3.0" || !strings.Contains(out.Detail, "sources") {
		t.Fatalf("a new check failing: %+v %v; current %s", out, err, g.current())
	}
}

// TestRolloutAndDowngrade: a host outside the rollout waits; an older
// release is never installed.
func TestRolloutAndDowngrade(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	g.opt.Current = "2.0.0"
	g.publish("1.5.0", 100, false)
	if out, err := Run(ctx, g.opt); err != nil || out.Result != "current" || !strings.Contains(out.Detail, "no downgrade") {
		t.Fatalf("an older release: %+v %v", out, err)
	}
	g.publish("2.1.0", Bucket("lab-1"), false) // rolling out to the hosts below lab-1's bucket
	if out, err := Run(ctx, g.opt); err != nil || out.Result != "not-in-rollout" {
		t.Fatalf("outside the rollout: %+v %v", out, err)
	}
	g.publish("2.2.0", Bucket("lab-1")+1, false)
	g.failing = map[string][]string{}
	if out, err := Run(ctx, g.opt); err != nil || out.Result != "updated" {
		t.Fatalf("inside the rollout: %+v %v", out, err)
	}
}

// TestCrashBetweenSwapAndVerdict: a run killed after the swap leaves a
// marker; the next run makes the verdict (here: roll back).
func TestCrashBetweenSwapAndVerdict(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	g.publish("1.1.0", 100, false)
	crash := errors.New("power cut")
	g.opt.Restart = func(context.Context) error { return crash }
	// Simulate the crash: the swap done, the marker there, no verdict. The
	// marker is as older releases wrote it, without the checks the old
	// doctor ran: every failure of the new one counts.
	os.MkdirAll(filepath.Join(g.opt.Root, "1.1.0"), 0o755)
	os.WriteFile(g.opt.Binary("1.1.0"), []byte("binary 1.1.0"), 0o755)
	writeJSON(g.opt.markerPath(), marker{From: "1.0.0", To: "1.1.0"})
	swap(filepath.Join(g.opt.Root, "current"), "1.1.0")
	g.opt.Restart = func(context.Context) error { g.restarts++; return nil }
	g.failing["1.1.0"] = []string{"tls-chain"}
	out, err := Run(ctx, g.opt)
	if err == nil || out.Result != "rolled-back" || g.current() != "1.0.0" {
		t.Fatalf("after the crash: %+v %v; current %s", out, err, g.current())
	}
	if _, err := os.Stat(g.opt.markerPath()); err == nil {
		t.Fatal("the marker is still there")
	}
}

// TestStoreOwnedByAnother: where another user owns the folder above the
// versions (a receiver's data folder on the same machine), autoupdate
// installs nothing there, since that user could swap what root runs, and
// says how this machine is updated instead.
func TestStoreOwnedByAnother(t *testing.T) {
	testenv.Require(t, testenv.Root()) // to give a folder to another user
	g := newRig(t)
	g.publish("1.1.0", 100, false)
	if err := os.Chown(filepath.Dir(g.opt.Root), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	out, err := Run(context.Background(), g.opt)
	if err != nil || out.Result != "unmanaged" || !strings.Contains(out.Detail, "belongs to uid 4242") || g.current() != "1.0.0" {
		t.Fatalf("a store another user could write: %+v %v; current %s", out, err, g.current())
	}
	if _, err := os.Stat(g.opt.Binary("1.1.0")); err == nil {
		t.Fatal("a binary was installed where another user could swap it")
	}
}

// TestLargeBinary: a real binary is tens of MB, more than any answer the
// transport keeps in memory; it is streamed to disk and checked there.
func TestLargeBinary(t *testing.T) {
	g := newRig(t)
	g.pad = 24 << 20
	g.publish("1.1.0", 100, false)
	out, err := Run(context.Background(), g.opt)
	if err != nil || out.Result != "updated" || g.current() != "1.1.0" {
		t.Fatalf("a 24 MiB release: %+v %v; current %s", out, err, g.current())
	}
	if st, err := os.Stat(g.opt.Binary("1.1.0")); err != nil || st.Size() != int64(len("binary 1.1.0")+24<<20) {
		t.Fatalf("the installed binary: %v %v", st, err)
	}
	if _, err := os.Stat(g.opt.Binary("1.1.0") + ".part"); err == nil {
		t.Fatal("the download's temp file was left behind")
	}
}

package migrate_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/datadir"
	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/hosthealth"
	"github.com/cis490/cis490/internal/migrate"
	"github.com/cis490/cis490/internal/pki"
	"github.com/cis490/cis490/internal/release"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/token"
	"github.com/cis490/cis490/internal/trust"
)

// folderState is what stateFolder put in the folder, to check the copy.
type folderState struct {
	host, replaced trust.Grant // lab-01's bundle, and the one it replaced
	join           string
	binary         []byte
	alert          fleethealth.Alert
}

// stateFolder writes the state beside the streams through the local
// stores, as a receiver and its admin commands do.
func stateFolder(t *testing.T, dir string, now time.Time) folderState {
	t.Helper()
	d := datadir.Dir(dir)
	var fs folderState
	ca, err := pki.Init(d.CA(), []string{"receiver.test"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tr := trust.Local(dir)
	for _, g := range []*trust.Grant{&fs.replaced, &fs.host} { // the second issue revokes the first
		cert, _, err := ca.IssueHost("lab-01", time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		if *g, err = tr.Issue(t.Context(), cert, now); err != nil {
			t.Fatal(err)
		}
	}
	if fs.join, err = token.Files(d.Tokens()).AddJoin(ca.Fingerprint(), "lab-*", 3, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := hosthealth.Folder(d.HostHealth()).Write("lab-02", []byte(`{"host":"lab-02","ok":true}`), now); err != nil {
		t.Fatal(err)
	}
	if err := fleethealth.RemovedFile(d).Mark("lab-09", now); err != nil {
		t.Fatal(err)
	}

	priv, _, err := release.KeyGen()
	if err != nil {
		t.Fatal(err)
	}
	fs.binary = bytes.Repeat([]byte("cis490 binary "), 1000)
	bin := filepath.Join(t.TempDir(), "cis490-linux-amd64")
	if err := os.WriteFile(bin, fs.binary, 0o600); err != nil {
		t.Fatal(err)
	}
	signed, _, err := release.Sign(priv, "1.2.0", strings.Repeat("a", 40), 100, []string{bin}, now)
	if err != nil {
		t.Fatal(err)
	}
	rel := release.Folder(d.Releases())
	if err := rel.Put("1.2.0", "cis490-linux-amd64", bytes.NewReader(fs.binary)); err != nil {
		t.Fatal(err)
	}
	if err := rel.Put("1.2.0", release.ManifestFile, bytes.NewReader(signed)); err != nil {
		t.Fatal(err)
	}

	det := fleethealth.Files(dir, "")
	unlock, err := det.Lock() // as a run does: it makes the folder
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	fs.alert = fleethealth.Alert{TS: now, Host: "lab-02", Symptom: "quiet", Detail: "no logs for 2h", Bucket: fleethealth.Bucket(now)}
	for _, err := range []error{det.SaveState([]byte("state v1")), det.SaveSilences([]byte(`[]`)), det.AppendAlerts([]fleethealth.Alert{fs.alert})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

// TestMigrateState: the trust and the state come along through pgs3, so
// hosts keep their credentials and revoked ones stay revoked; a second
// run copies nothing; a token revoked in the folder since is revoked by
// the next run, while state the backend has is never overwritten.
func TestMigrateState(t *testing.T) {
	dir := t.TempDir()
	now := day0
	fill(t, dir, &now, 2, store.Options{})
	fs := stateFolder(t, dir, now)
	b := backend(t)
	before := snapshot(t, dir)
	run := func() (migrate.Report, string) {
		t.Helper()
		var out bytes.Buffer
		rep, err := migrate.Run(t.Context(), migrate.Options{DataDir: dir, Backend: b, Out: &out})
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, out.String())
		}
		if strings.Contains(out.String(), fs.host.Token) || strings.Contains(out.String(), fs.join) {
			t.Fatalf("migrate printed a token:\n%s", out.String())
		}
		return rep, out.String()
	}
	rep, out := run()
	for step, n := range rep.State {
		if n == 0 {
			t.Errorf("the first run copied nothing of the %s:\n%s", step, out)
		}
	}
	if !strings.Contains(out, "dashboard sessions: not copied") {
		t.Errorf("the output does not say the sessions stay behind:\n%s", out)
	}
	if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("migrate changed the data folder")
	}

	toks, err := b.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := toks.Lookup(fs.host.Token); !ok || e.Name != "lab-01" || e.Kind != token.KindHost {
		t.Errorf("lab-01's bearer token from the folder: %+v %v; want it accepted", e, ok)
	}
	if _, ok := toks.Lookup(fs.replaced.Token); ok {
		t.Error("the token the second issue revoked is accepted by the backend")
	}
	if err := toks.CheckJoin(fs.join, now); err != nil {
		t.Errorf("the join token from the folder: %v", err)
	}
	revs, err := b.Revocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !revs.HasSerial(pki.Serial(fs.replaced.Cert)) || revs.HasSerial(pki.Serial(fs.host.Cert)) {
		t.Error("the backend's revocation list differs from the folder's")
	}
	ledger, err := b.Trust().Ledger()
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 2 || ledger[0].Serial != pki.Serial(fs.replaced.Cert) || ledger[1].Serial != pki.Serial(fs.host.Cert) {
		t.Errorf("the backend's ledger %+v; want lab-01's two certificates in order", ledger)
	}
	snap, err := b.HostHealth().Read("lab-02")
	if err != nil || string(snap.Snapshot) != `{"host":"lab-02","ok":true}` || !snap.ReceivedAt.Equal(now) {
		t.Errorf("lab-02's snapshot in the backend: %+v %v", snap, err)
	}
	r, size, err := b.Releases().Open("1.2.0", "cis490-linux-amd64")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if size != int64(len(fs.binary)) || !bytes.Equal(got, fs.binary) {
		t.Errorf("release 1.2.0's binary in the backend: %d bytes, differs", size)
	}
	if vs, _ := b.Releases().Versions(); fmt.Sprint(vs) != "[1.2.0]" {
		t.Errorf("the backend's releases %v; want 1.2.0", vs)
	}
	if removed, _ := b.Removals().Removed(); !removed["lab-09"].Equal(now) {
		t.Errorf("the backend's removed hosts %v; want lab-09", removed)
	}
	det := b.Detector()
	if st, _ := det.LoadState(); string(st) != "state v1" {
		t.Errorf("the detector's state in the backend: %q", st)
	}
	if sil, _ := det.LoadSilences(); string(sil) != `[]` {
		t.Errorf("the detector's silences in the backend: %q", sil)
	}
	alerts, err := det.ReadAlerts(func(fleethealth.Alert) bool { return true }, 10)
	if err != nil || len(alerts) != 1 || alerts[0].Host != "lab-02" || !alerts[0].TS.Equal(now) {
		t.Errorf("the backend's alerts: %+v %v; want the folder's one", alerts, err)
	}

	rep, out = run()
	for step, n := range rep.State {
		if n != 0 {
			t.Errorf("the second run copied %d of the %s:\n%s", n, step, out)
		}
	}
	if rep.Bytes != 0 || rep.Lines != 0 {
		t.Errorf("the second run copied %d bytes and %d lines", rep.Bytes, rep.Lines)
	}

	// In the folder, lab-01 is revoked and the detector runs once more.
	if _, _, err := trust.Local(dir).RevokeHost(t.Context(), "lab-01", "test", now, nil); err != nil {
		t.Fatal(err)
	}
	if err := fleethealth.Files(dir, "").SaveState([]byte("state v2")); err != nil {
		t.Fatal(err)
	}
	rep, out = run()
	if rep.State["trust"] == 0 || rep.State["detector"] != 0 {
		t.Errorf("after a revocation in the folder the run copied %v; want the trust, not the detector's state:\n%s", rep.State, out)
	}
	if _, ok := toks.Lookup(fs.host.Token); ok {
		t.Error("lab-01's token, revoked in the folder since the last run, is still accepted by the backend")
	}
	if !revs.HasSerial(pki.Serial(fs.host.Cert)) {
		t.Error("lab-01's certificate, revoked in the folder since the last run, is not revoked in the backend")
	}
	if st, _ := det.LoadState(); string(st) != "state v1" {
		t.Errorf("the detector's state in the backend was overwritten: %q", st)
	}
}

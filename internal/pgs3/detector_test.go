package pgs3_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/fleethealth"
	"github.com/cis490/cis490/internal/fleethealth/detectortest"
	"github.com/cis490/cis490/internal/pgs3"
)

// TestDetectorStore holds the shared database to the Store's promises,
// the same suite the files in data_dir pass.
func TestDetectorStore(t *testing.T) {
	detectortest.Run(t, func(t *testing.T) fleethealth.Store {
		dsn, s3 := sharedServers(t)
		return open(t, pgs3.Options{Postgres: dsn, S3: s3}).Detector()
	})
}

// shortLease is a lease that lapses in a second, never renewed, and a
// Lock that waits a tenth of one.
func shortLease(holder string) pgs3.DetectorOptions {
	return pgs3.DetectorOptions{Lease: time.Second, Renew: time.Hour, Wait: 100 * time.Millisecond, Holder: holder}
}

// TestDetectorLease: one run at a time across receivers. A second run is
// told the first holds it; once the first's lease lapses (it was stopped,
// not renewing) its writes are refused, another run takes over and
// writes, and the first's writes stay refused, whichever they are.
func TestDetectorLease(t *testing.T) {
	dsn, s3 := sharedServers(t)
	b1 := open(t, pgs3.Options{Postgres: dsn, S3: s3})
	b2 := open(t, pgs3.Options{Postgres: dsn, S3: s3}) // another receiver
	a, b := b1.DetectorWith(shortLease("run A")), b2.DetectorWith(shortLease("run B"))

	unlockA, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(); !errors.Is(err, fleethealth.ErrBusy) || !strings.Contains(err.Error(), "run A") {
		t.Fatalf("a second Lock while A holds it: %v; want busy, naming run A", err)
	}
	if err := a.SaveState([]byte("A's")); err != nil {
		t.Fatalf("A's write under its lease: %v", err)
	}
	time.Sleep(1200 * time.Millisecond) // A is stopped past its lease
	if err := a.SaveState([]byte("A's late")); !errors.Is(err, pgs3.ErrLeaseLost) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("A's write after its lease lapsed: %v; want refused as expired", err)
	}
	unlockB, err := b.Lock()
	if err != nil {
		t.Fatalf("B taking over the lapsed lease: %v", err)
	}
	defer unlockB()
	if err := b.SaveState([]byte("B's")); err != nil {
		t.Fatalf("B's write: %v", err)
	}
	writes := map[string]func() error{
		"SaveState":    func() error { return a.SaveState([]byte("A's stale")) },
		"SaveSilences": func() error { return a.SaveSilences([]byte("[]")) },
		"AppendAlerts": func() error {
			return a.AppendAlerts([]fleethealth.Alert{{TS: time.Now(), Host: "lab-1", Symptom: fleethealth.Silent, Bucket: "b"}})
		},
		"SetAside": func() error { _, err := a.SetAside(); return err },
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, pgs3.ErrLeaseLost) || !strings.Contains(err.Error(), "run B took it over") {
			t.Errorf("A's %s after B took over: %v; want refused, naming run B", name, err)
		}
	}
	if st, _ := b.LoadState(); string(st) != "B's" {
		t.Errorf("the state is %q; want B's", st)
	}
	if as, _ := b.ReadAlerts(func(fleethealth.Alert) bool { return true }, 10); len(as) != 0 {
		t.Errorf("A's refused alerts were written: %v", as)
	}
	unlockA() // must not release B's lease
	c := b1.DetectorWith(shortLease("run C"))
	if _, err := c.Lock(); !errors.Is(err, fleethealth.ErrBusy) || !strings.Contains(err.Error(), "run B") {
		t.Fatalf("Lock after A's late unlock: %v; want busy, B still holding", err)
	}
}

// TestDetectorLeaseRenewedAndWaited: a holder that keeps working keeps its
// lease past its length, and a run that waits takes the lease as soon as
// the holder lets it go.
func TestDetectorLeaseRenewedAndWaited(t *testing.T) {
	dsn, s3 := sharedServers(t)
	be := open(t, pgs3.Options{Postgres: dsn, S3: s3})
	a := be.DetectorWith(pgs3.DetectorOptions{Lease: time.Second, Renew: 200 * time.Millisecond, Holder: "run A"})
	unlock, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := a.SaveState([]byte("still A's")); err != nil {
		t.Fatalf("a write 2.5 leases in, renewed: %v", err)
	}
	b := be.DetectorWith(pgs3.DetectorOptions{Lease: time.Second, Wait: 10 * time.Second, Holder: "run B"})
	got := make(chan error, 1)
	start := time.Now()
	go func() {
		unlockB, err := b.Lock()
		if err == nil {
			unlockB()
		}
		got <- err
	}()
	time.Sleep(300 * time.Millisecond)
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("the waiting run: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the waiting run took %s; want it soon after A let go", took)
	}
}

// TestDetectorAlertsHorizon: an alert whose transaction commits after a
// later one's is not skipped by a reader that read the later one first.
func TestDetectorAlertsHorizon(t *testing.T) {
	dsn, s3 := sharedServers(t)
	d := open(t, pgs3.Options{Postgres: dsn, S3: s3}).Detector()
	unlock, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	slow, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	line := func(host string) string {
		b, _ := fleethealth.Alert{TS: time.Now(), Host: host, Symptom: fleethealth.Silent, Bucket: "b"}.MarshalJSON()
		return string(b)
	}
	if _, err := slow.Exec(t.Context(), `INSERT INTO detector_alerts (ts, line) VALUES (now(), $1)`, line("early")); err != nil {
		t.Fatal(err)
	}
	if err := d.AppendAlerts([]fleethealth.Alert{{TS: time.Now(), Host: "late", Symptom: fleethealth.Silent, Bucket: "b"}}); err != nil {
		t.Fatal(err)
	}
	var cp fleethealth.AlertCheckpoint
	read := func() []string {
		t.Helper()
		var hosts []string
		cp, err = d.AlertsSince(t.Context(), cp, time.Time{}, func(a fleethealth.Alert) error {
			hosts = append(hosts, a.Host)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return hosts
	}
	if got := read(); len(got) != 0 {
		t.Fatalf("read %v while an earlier alert is uncommitted; want nothing yet", got)
	}
	if err := slow.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []string{"early", "late"}) {
		t.Fatalf("read %v once it committed; want [early late]", got)
	}
	if got := read(); len(got) != 0 {
		t.Fatalf("read %v again; want nothing new", got)
	}
}

// leaseChild is set in the environment of the child TestDetectorLeaseSIGSTOP
// starts: the database it takes the lease in.
const leaseChild = "CIS490_PGS3_LEASE_CHILD"

// TestDetectorLeaseSIGSTOP runs a real process that takes the lease, is
// stopped (SIGSTOP) past it, and is continued after another run took
// over: its write is refused with a clear error, and the other run's
// state stands.
func TestDetectorLeaseSIGSTOP(t *testing.T) {
	if os.Getenv(leaseChild) != "" {
		t.Skip("the child's side runs in TestLeaseChild")
	}
	dsn, s3 := sharedServers(t)
	be := open(t, pgs3.Options{Postgres: dsn, S3: s3})
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseChild$", "-test.v")
	cmd.Env = append(os.Environ(), leaseChild+"="+dsn, "CIS490_PGS3_LEASE_S3="+s3.Endpoint+" "+s3.Bucket)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := bufio.NewScanner(stdout)
	want := func(prefix string) string {
		t.Helper()
		for out.Scan() {
			if strings.HasPrefix(out.Text(), prefix) {
				return out.Text()
			}
		}
		t.Fatalf("the child ended before saying %q: %v", prefix, out.Err())
		return ""
	}
	want("locked")
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	other := be.DetectorWith(pgs3.DetectorOptions{Lease: time.Minute, Wait: 10 * time.Second, Holder: "the other run"})
	unlock, err := other.Lock() // waits out the stopped child's lease
	if err != nil {
		t.Fatalf("taking over from the stopped child: %v", err)
	}
	defer unlock()
	if err := other.SaveState([]byte("the other run's")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "write")
	res := want("result ")
	if !strings.Contains(res, "refused") || !strings.Contains(res, "the other run took it over") {
		t.Fatalf("the continued child's write: %s; want refused, naming the other run", res)
	}
	if st, _ := other.LoadState(); string(st) != "the other run's" {
		t.Fatalf("the state is %q after the child's write", st)
	}
}

// TestLeaseChild is the child's side of TestDetectorLeaseSIGSTOP: take a
// 1 s lease, say so, wait for the word, then try to write.
func TestLeaseChild(t *testing.T) {
	dsn := os.Getenv(leaseChild)
	if dsn == "" {
		t.Skip("run by TestDetectorLeaseSIGSTOP")
	}
	endpoint, bucket, _ := strings.Cut(os.Getenv("CIS490_PGS3_LEASE_S3"), " ")
	b, err := pgs3.Open(t.Context(), pgs3.Options{Postgres: dsn, S3: pgs3.S3{Endpoint: endpoint, Bucket: bucket}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d := b.DetectorWith(pgs3.DetectorOptions{Lease: time.Second, Renew: 250 * time.Millisecond, Holder: "the child"})
	unlock, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	fmt.Println("locked")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	if err := d.SaveState([]byte("the child's")); err != nil {
		fmt.Println("result refused:", err)
		return
	}
	fmt.Println("result written")
}

// sharedServers is servers with the bucket as pgs3 takes it.
func sharedServers(t *testing.T) (string, pgs3.S3) {
	t.Helper()
	dsn, s3 := servers(t)
	return dsn, s3Of(s3)
}

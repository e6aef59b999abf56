package integration

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cis490/cis490/internal/index"
	"github.com/cis490/cis490/internal/pgs3"
	"github.com/cis490/cis490/internal/store"
	"github.com/cis490/cis490/internal/testenv"
)

// balancer is Debian's haproxy in TCP mode in front of receivers: it
// names each caller in a PROXY v2 header and takes a receiver out as
// soon as its /healthz stops answering, cutting its connections.
type balancer struct {
	port    int
	logPath string
}

// startBalancer runs haproxy in the foreground as the test's child, in
// front of rcvs, until the test ends.
func startBalancer(t *testing.T, dir string, rcvs ...*receiverProc) *balancer {
	t.Helper()
	testenv.Require(t, testenv.HAProxy())
	b := &balancer{port: freePort(t), logPath: filepath.Join(dir, "haproxy.log")}
	var servers strings.Builder
	for i, r := range rcvs {
		fmt.Fprintf(&servers, "\tserver r%d 127.0.0.1:%d\n", i, r.port)
	}
	// Checks every 200 ms over TLS (a SIGSTOPped receiver's kernel still
	// accepts TCP connections, so a connect-only check would not notice),
	// down after two failures, up after one success.
	cfg := fmt.Sprintf(`global
	maxconn 4096
	log stderr format short local0 notice
defaults
	mode tcp
	log global
	timeout connect 500ms
	timeout client 30s
	timeout server 5s
	timeout check 500ms
	retries 2
	option redispatch
frontend shippers
	bind 127.0.0.1:%d
	default_backend receivers
backend receivers
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	default-server send-proxy-v2 check check-ssl verify none inter 200ms fall 2 rise 1 on-marked-down shutdown-sessions
%s`, b.port, servers.String())
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startIn(t, dir, "haproxy.log", "/usr/sbin/haproxy", "-db", "-f", cfgPath)
	eventually(t, 5*time.Second, func() string {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(b.URL(), "https://"), time.Second)
		if err != nil {
			return "haproxy does not listen: " + err.Error() + "\n" + readFrom(b.logPath, 0)
		}
		c.Close()
		return ""
	})
	return b
}

func (b *balancer) URL() string { return "https://127.0.0.1:" + strconv.Itoa(b.port) }

// downs counts the times haproxy took a receiver out.
func (b *balancer) downs() int { return strings.Count(readFrom(b.logPath, 0), " is DOWN") }

// TestScaleOutBehindHAProxy: shippers append through haproxy to two
// receivers sharing postgres+s3 while one is SIGKILLed and restarted and
// the other SIGSTOPped and continued, again and again. Every acknowledged
// byte is stored once, in place; every index line is a request a shipper
// sent, from the shipper's own address (not haproxy's); the objects no
// batch committed are collected and no other.
func TestScaleOutBehindHAProxy(t *testing.T) {
	testenv.Require(t, testenv.HAProxy(), testenv.PostgreSQL())
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	const chaos = 35 * time.Second

	hostNames := []string{"it-b0", "it-b1", "it-b2", "it-b3", "it-b4"}
	f := newFleet(t, hostNames, true)
	section, opt, bucketDir := sharedStorage(t, f.dir)
	// The shippers here send as fast as they are answered, not at a
	// host's pace: the per-host rate limit is not what this test is about.
	extra := "proxy_protocol_from = [\"127.0.0.1\"]\n" + section
	const limits = "host_rate = 0\n"
	killed := f.rcv
	killed.extra, killed.limits, killed.proxied = extra, limits, true
	killed.writeConfig()
	f.reissue(t) // trust is in the database
	stopped := newReceiverProc(t, t.TempDir())
	stopped.dataDir, stopped.extra, stopped.limits, stopped.pool, stopped.proxied = killed.dataDir, extra, limits, killed.pool, true
	stopped.writeConfig()
	killed.Start()
	stopped.Start()
	lb := startBalancer(t, f.dir, killed, stopped)
	for _, c := range f.hosts {
		c.rcv = lb
	}
	f.admin.rcv = lb

	var ships []*shipper
	for i, h := range hostNames {
		streams := []string{"app.log"}
		if i == len(hostNames)-1 {
			streams = []string{"app.log", "audit.log"}
		}
		for _, st := range streams {
			s := newShipper(t, seed, len(ships), h, st, f.hosts[h], f.admin)
			s.late = true // a SIGSTOPped receiver commits what it held once continued
			ships = append(ships, s)
		}
	}

	began := time.Now()
	stop, stopShipping := context.WithCancel(context.Background())
	hard, hardStop := context.WithTimeout(context.Background(), chaos+30*time.Second)
	defer hardStop()
	defer stopShipping()
	var wg sync.WaitGroup
	for _, s := range ships {
		wg.Go(func() { s.run(stop, hard, hardStop) })
	}
	defer wg.Wait()

	// One receiver is stopped for longer than haproxy takes to notice,
	// then continued, in a loop of its own.
	end := time.Now().Add(chaos)
	var stops int
	var chaosWG sync.WaitGroup
	defer chaosWG.Wait()
	srng := rand.New(rand.NewPCG(uint64(seed), 3))
	chaosWG.Go(func() {
		for time.Until(end) > 3*time.Second && hard.Err() == nil {
			time.Sleep(time.Duration(500+srng.IntN(2000)) * time.Millisecond)
			if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Errorf("SIGSTOP: %v", err)
				return
			}
			stops++
			time.Sleep(time.Duration(1000+srng.IntN(2000)) * time.Millisecond)
			if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT: %v", err)
				return
			}
		}
	})
	var kills int
	for time.Until(end) > 0 && !t.Failed() {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		killed.Kill()
		kills++
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		port := killed.port
		killed.Start()
		if killed.port != port {
			t.Fatalf("the killed receiver came back on port %d, not %d behind haproxy", killed.port, port)
		}
	}
	chaosWG.Wait()
	time.Sleep(500 * time.Millisecond) // a calm moment: every shipper gets answers again
	stopShipping()
	wg.Wait()
	if hard.Err() != nil && !t.Failed() {
		t.Fatalf("the shippers did not finish in time (seed %d)", seed)
	}
	shipped := time.Since(began)

	var total int64
	for _, s := range ships {
		total += s.verify()
		if s.created == 0 && !t.Failed() {
			s.failf("no append was ever acknowledged")
		}
	}
	// Stopped receivers have committed every line they will.
	for _, r := range []*receiverProc{killed, stopped} {
		if code, _ := r.Stop(15 * time.Second); code != 0 {
			t.Errorf("after SIGTERM a receiver exited %d, want 0", code)
		}
	}

	b, err := pgs3.Open(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ix := newIndexFile()
	if _, _, err := b.Lines().Read(t.Context(), index.Checkpoint{}, time.Time{}, time.Time{}, func(l *index.Line) {
		ix.add(l.Remote, l.Method, l.Endpoint, l.Host, l.Stream, l.Status, l.Bytes)
	}); err != nil {
		t.Fatal(err)
	}
	led := f.led.snapshot()
	checkRemotes(t, led, ix)
	checkLedger(t, led, ix, true)

	before := bucketObjects(t, bucketDir)
	collected, err := b.Collect(t.Context(), time.Now().Add(2*pgs3.OrphanAge))
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	after := bucketObjects(t, bucketDir)
	referenced := extentObjects(t, opt.Postgres)
	if len(before)-collected != len(after) {
		t.Errorf("collect deleted %d objects, but the bucket went from %d to %d", collected, len(before), len(after))
	}
	for _, o := range after {
		if !slices.Contains(referenced, o) {
			t.Errorf("object %s is left in the bucket, but no extent refers to it: an orphan not collected", o)
		}
	}
	for _, o := range referenced {
		if !slices.Contains(after, o) {
			t.Errorf("extents refer to object %s, which is not in the bucket", o)
		}
	}
	// What is left still reads back as the hosts' bytes.
	for _, s := range ships {
		verifyBackend(t, b, s)
	}

	t.Logf("%d SIGKILLs and %d SIGSTOPs in %s, haproxy took a receiver out %d times; %d streams hold %.1f MiB; index: %d lines; %d objects, %d orphans collected",
		kills, stops, shipped.Round(time.Millisecond), lb.downs(), len(ships), float64(total)/(1<<20), ix.lines, len(after), collected)
	for _, s := range ships {
		t.Logf("  %-18s length %9d: %4d appends (201), %3d retries (200), %3d refusals (409), %2d busy (503), %3d send errors, %3d resyncs, %2d grown by a late request",
			s.name(), s.acked.Load(), s.created, s.dups, s.conflicts, s.busy, s.sendErrs, s.resyncs, s.grown)
	}
}

// checkRemotes checks that every index line's remote is the address of a
// client the test ran: the caller behind haproxy, not haproxy itself (on
// loopback both are 127.0.0.1, so the port tells).
func checkRemotes(t *testing.T, led ledgerView, ix indexFile) {
	t.Helper()
	clients := map[string]bool{}
	for _, m := range []map[string]int{led.answered, led.lost} {
		for k := range m {
			clients[strings.Fields(k)[0]] = true
		}
	}
	var bad []string
	for k := range ix.keys {
		if remote := strings.Fields(k)[0]; !clients[remote] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Errorf("%d index line(s) name a remote address no client had (the balancer's?), e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], "; "))
	}
}

// bucketObjects lists the object names in the bucket's folder on disk.
func bucketObjects(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // the gateway's own temporary files
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// extentObjects lists the objects extents refer to.
func extentObjects(t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT DISTINCT object FROM extents`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// verifyBackend reads s's stream straight from the backend and compares
// it with what the host generated.
func verifyBackend(t *testing.T, b *pgs3.Backend, s *shipper) {
	t.Helper()
	key := store.Key{Host: s.host, Stream: s.stream}
	var off int64
	for {
		data, info, err := b.Streams().Read(t.Context(), key, off, 8<<20)
		if err != nil {
			s.failf("read from the backend at %d after collect: %v", off, err)
			return
		}
		if d := s.data.firstDiff(off, data); d != "" {
			s.failf("after collect the stream is not the bytes the host sent: %s", d)
			return
		}
		off += int64(len(data))
		if len(data) == 0 || off >= info.Length {
			if off < s.acked.Load() {
				s.failf("after collect the backend holds %d bytes, %d were acknowledged", off, s.acked.Load())
			}
			return
		}
	}
}

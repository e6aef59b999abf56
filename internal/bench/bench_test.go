package bench_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cis490/cis490/internal/bench"
	"github.com/cis490/cis490/internal/cli"
	"github.com/cis490/cis490/internal/testenv"
)

// The test binary doubles as the cis490 binary: with CIS490_BENCH_CHILD set
// it runs the command line it was given, so StartCis490 can start a real
// receiver process without building one.
func TestMain(m *testing.M) {
	if os.Getenv("CIS490_BENCH_CHILD") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	code := m.Run()
	testenv.StopShared() // TestRunSearchPGS3's PostgreSQL and versitygw
	os.Exit(code)
}

func startReceiver(t *testing.T, hosts int) *bench.Target {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tg, err := bench.StartCis490(t.Context(), bench.Options{Hosts: hosts, Dir: t.TempDir(),
		Command: []string{exe}, Env: []string{"CIS490_BENCH_CHILD=1"}, Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A receiver that does not stop cleanly on SIGTERM fails the test
		// (under -race a data race makes it exit 66): its log says why.
		if err := tg.Close(); err != nil {
			b, _ := os.ReadFile(tg.Log)
			t.Errorf("the receiver did not stop cleanly: %v\n%s", err, b)
		}
	})
	return tg
}

// A one-second run against a real receiver process: every PUT is a durable
// 201, none fails, and each stream holds exactly the acknowledged bytes.
func TestRunAgainstReceiver(t *testing.T) {
	tg := startReceiver(t, 2)
	const size = 4096
	res, err := bench.Run(t.Context(), tg, bench.Load{Hosts: 2, Size: size, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(bench.FormatLine(res))
	if res.OK == 0 {
		t.Fatal("no 201 at all")
	}
	if n := res.ErrorCount(); n != 0 {
		t.Fatalf("%d errors: %s", n, bench.FormatErrors(res))
	}
	if res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("latencies p50 %v p99 %v", res.P50, res.P99)
	}
	if res.ServerCPU <= 0 {
		t.Errorf("server CPU not measured (pid %d)", tg.PID)
	}
	// Without a warm-up every request counted: the streams together hold
	// exactly OK bodies.
	var total int64
	for _, h := range tg.Hosts {
		total += streamLength(t, tg, h)
	}
	if total != res.OK*size {
		t.Errorf("streams hold %d bytes, %d PUTs of %d were acknowledged (%d bytes)", total, res.OK, size, res.OK*size)
	}
}

// streamLength asks the receiver for a host's stream length (HEAD).
func streamLength(t *testing.T, tg *bench.Target, h bench.Host) int64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: tg.RootCAs, ServerName: tg.ServerName, Certificates: []tls.Certificate{h.Cert}}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodHead, "https://"+tg.Addr+"/v1/logs/"+h.Name+"/s", nil)
	req.Header.Set("Authorization", "Bearer "+h.Token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %s", h.Name, resp.Status)
	}
	n, err := strconv.ParseInt(resp.Header.Get("X-Cis490-Length"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReport(t *testing.T) {
	mk := func(target string, ok int64) *bench.Result {
		return &bench.Result{Target: target, Size: 4096, Hosts: 2, Elapsed: time.Second, OK: ok,
			Errors: map[string]int64{}, P50: time.Millisecond, P99: 3 * time.Millisecond, ServerCPU: time.Duration(ok) * 100 * time.Microsecond, Syncs: -1}
	}
	if m := bench.Median([]*bench.Result{mk("x", 30), mk("x", 10), mk("x", 20)}); m.OK != 20 {
		t.Errorf("median of 10, 20, 30 is %d", m.OK)
	}
	med := map[string]map[int]*bench.Result{"nginx": {4096: mk("nginx", 1000)}, "cis490": {4096: mk("cis490", 700)}}
	var b strings.Builder
	bench.Table(&b, []string{"nginx", "cis490"}, []int{4096}, med)
	bench.GoalLines(&b, med)
	out := b.String()
	for _, want := range []string{"| 4 KiB | req/s | 1,000 | 700 | 0.70× |", "|  | server CPU per request | 0.100 ms | 0.100 ms | 1.00× |", "4 KiB: durable cis490 at 0.70× nginx req/s (goal ≥0.6×): met"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

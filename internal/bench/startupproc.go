package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runBuilder runs `cis490 bench startup-build` (BuildStore) as a child
// process on data. With kill, the child holds the store open once it has
// reported every append durable, and is SIGKILLed then: no clean close,
// an unsealed segment, index lines written since the last index sync.
func runBuilder(ctx context.Context, o StartupOptions, data string, n int64, from, to time.Time, kill bool) (BuildResult, error) {
	args := append(slices.Clone(o.Command[1:]), "bench", "startup-build", "--data", data,
		"--appends", strconv.FormatInt(n, 10), "--size", strconv.Itoa(o.Size),
		"--hosts", strconv.Itoa(o.Hosts), "--streams-per-host", strconv.Itoa(o.Streams),
		"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano))
	if kill {
		args = append(args, "--hold")
	}
	logPath := filepath.Join(filepath.Dir(data), "build.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return BuildResult{}, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, o.Command[0], args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stderr = logf
	if o.Progress != nil {
		cmd.Stderr = io.MultiWriter(logf, o.Progress)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive bench
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return BuildResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return BuildResult{}, fmt.Errorf("start the store builder: %w", err)
	}
	out := bufio.NewReader(stdout)
	res, rerr := readBuildResult(out)
	if kill && rerr == nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	_, _ = io.Copy(io.Discard, out) // to EOF: the child has exited
	werr := cmd.Wait()
	if kill && killed(werr) {
		werr = nil // ours
	}
	if err := errors.Join(rerr, werr); err != nil {
		return res, fmt.Errorf("store builder: %w; its log: %s", err, tail(logPath))
	}
	return res, nil
}

// readBuildResult reads the builder's JSON line.
func readBuildResult(r *bufio.Reader) (BuildResult, error) {
	var res BuildResult
	line, err := r.ReadBytes('\n')
	if len(line) == 0 {
		return res, fmt.Errorf("it reported nothing (%w)", err)
	}
	if err := json.Unmarshal(line, &res); err != nil {
		return res, fmt.Errorf("its report %q: %w", line, err)
	}
	return res, nil
}

// killed says whether a Wait error is a SIGKILL's.
func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// heapMetric is the Go collector's figure read as the live heap: bytes in
// spans holding objects, read from runtime/metrics at scrape time (not
// only after a GC). It counts garbage not yet swept, so it bounds the live
// heap from above.
const heapMetric = "go_memstats_heap_inuse_bytes"

// scrapeHeap GETs /metrics from loopback, as a local Prometheus would (no
// credentials), and returns heapMetric.
func scrapeHeap(ctx context.Context, t *Target) (int64, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: t.RootCAs, ServerName: t.ServerName, MinVersion: tls.VersionTLS13},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+t.Addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), heapMetric+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", heapMetric, v, err)
		}
		return int64(f), nil
	}
	return 0, errors.Join(fmt.Errorf("no %s in the metrics", heapMetric), sc.Err())
}

// FormatStartup prints the table: one row per history size, the clean
// start and the start after a SIGKILL side by side.
func FormatStartup(w io.Writer, r *StartupReport) {
	o := r.Opt
	cache := "page cache warm"
	if o.Cold {
		cache = "page cache dropped before each start"
	}
	fmt.Fprintf(w, "receiver start-up against history: appends of %d bytes over %d hosts × %d streams, %s appends a simulated day; median of %d start(s), %s; RSS and heap after %s idle\n",
		o.Size, o.Hosts, o.Streams, Thousands(float64(o.PerDay)), o.Runs, cache, o.Settle)
	fmt.Fprintf(w, "after SIGKILL: before each such start a builder adds %s appends and is SIGKILLed once they are durable (unsealed segment, unsynced index lines), so the store holds more than the clean one (\"held\")\n\n",
		Thousands(float64(o.KillAppends)))
	fmt.Fprintln(w, "| appends | disk | build appends/s | ready | peak RSS | settled RSS | heap in use | held | ready after SIGKILL | peak RSS | settled RSS | heap in use |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range r.Rows {
		build := "–"
		if row.Appends > 0 {
			build = Thousands(row.Build.Rate())
		}
		c, k := row.Clean, row.Killed
		fmt.Fprintf(w, "| %s | %.2f GB | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			countLabel(row.Appends), float64(row.Build.Disk)/1e9, build, MS(c.Ready), MB(c.PeakRSS), MB(c.RSS), MB(c.Heap),
			countLabel(k.Appends), MS(k.Ready), MB(k.PeakRSS), MB(k.RSS), MB(k.Heap))
	}
	for _, row := range r.Rows {
		if row.Dir != "" {
			fmt.Fprintf(w, "kept %s (%s appends)\n", row.Dir, countLabel(row.Appends))
		}
	}
}

// countLabel writes a count as the command line takes it: 1M, 100k, 20000.
func countLabel(n int64) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return strconv.FormatInt(n/1e6, 10) + "M"
	case n >= 1e3 && n%1e3 == 0:
		return strconv.FormatInt(n/1e3, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// ParseCount reads a count written as 20000, 20k, 1M, 1.5M or 1G.
func ParseCount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult = 1e3
	case strings.HasSuffix(s, "M"):
		mult = 1e6
	case strings.HasSuffix(s, "G"):
		mult = 1e9
	}
	num := s
	if mult != 1 {
		num = s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult > 1e12 || f*mult != float64(int64(f*mult)) {
		return 0, fmt.Errorf("%q is not a whole count like 20000, 100k or 1.5M", s)
	}
	return int64(f * mult), nil
}

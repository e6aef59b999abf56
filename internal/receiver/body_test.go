package receiver

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOneHostCannotStarveTheOthers: a host's stalled uploads hold at most
// its share of the body memory, charged as bytes arrive, so other hosts
// keep shipping.
func TestOneHostCannotStarveTheOthers(t *testing.T) {
	for _, c := range []struct {
		name              string
		opt               Options
		stalls            int
		stallLen, honestN int64
	}{
		// Before: 8 stalled PUTs of 64 KiB reserved all 512 KiB.
		{"per-host share", Options{MaxBody: 64 << 10, MaxInflight: 512 << 10}, 8, 64 << 10, 32 << 10},
		// Before: one stalled 8 MiB PUT reserved all 8 MiB by its length.
		{"charged as bytes arrive", Options{MaxBody: 8 << 20, MaxInflight: 8 << 20}, 1, 8 << 20, 4 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{server: c.opt})
			lab1, lab2 := f.host("lab-1"), f.host("lab-2")
			for i := range c.stalls {
				f.stall(lab1, fmt.Sprintf("/v1/logs/lab-1/s%d?offset=0", i), c.stallLen)
			}
			time.Sleep(300 * time.Millisecond) // the stalled bodies' first bytes are in
			r := f.do(lab2, "PUT", "/v1/logs/lab-2/s?offset=0", strings.Repeat("x", int(c.honestN)), nil)
			if r.status != http.StatusCreated {
				t.Fatalf("lab-2's PUT of %d bytes while lab-1 stalls %d uploads = %d %s; want 201", c.honestN, c.stalls, r.status, r.body)
			}
		})
	}
}

// TestSlowBodyIsCut: a body that brings less than min_body_rate over the
// window is cut with 408 slow-body and the connection closed; a slow but
// steady one gets through.
func TestSlowBodyIsCut(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: Options{MinBodyRate: 1000}})
	f.srv.paceWindow = 400 * time.Millisecond // 400 bytes per window
	lab1 := f.host("lab-1")

	put := func(path string, body io.Reader, n int64) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("PUT", f.url+path, body)
		req.ContentLength = n
		req.Header.Set("Authorization", "Bearer "+lab1.token)
		resp, err := f.client(lab1).Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("only this"))
	if resp := put("/v1/logs/lab-1/stalled?offset=0", pr, 4000); resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("a stalled body: %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
	if l := f.indexLines(); l[len(l)-1].Reason != "slow-body" {
		t.Fatalf("index line %+v; want reason slow-body", l[len(l)-1])
	}
	// 100 bytes every 50 ms: 2000 bytes a second, over 4 windows.
	sr, sw := io.Pipe()
	go func() {
		for range 30 {
			sw.Write([]byte(strings.Repeat("s", 100)))
			time.Sleep(50 * time.Millisecond)
		}
		sw.Close()
	}()
	if resp := put("/v1/logs/lab-1/steady?offset=0", sr, 3000); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a slow, steady body: %d; want 201", resp.StatusCode)
	}
}

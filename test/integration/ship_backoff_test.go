package integration

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestShipperBacksOffWhileReceiverDown: while the receiver is unreachable
// and the shipped file keeps growing, the shipper retries with capped
// exponential backoff (SPEC "Host side"), not once per write. A listener
// that takes the receiver's port and hangs up on every connection counts
// the attempts; afterwards the real receiver comes back and the stream
// must be complete.
func TestShipperBacksOffWhileReceiverDown(t *testing.T) {
	seed := testSeed(t)
	r := newShipRig(t, seed, "bo.log")
	s := r.sources[0]
	write := func(n int) {
		for range n {
			if err := r.w.write(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(20)
	r.sp.Start()
	if ls, _ := r.waitIdle(20 * time.Second); t.Failed() {
		t.Fatalf("the first lines were not shipped: lengths %v", ls)
	}

	r.f.rcv.Kill()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(r.f.rcv.port))
	if err != nil {
		t.Fatalf("take the receiver's port: %v", err)
	}
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	const outage = 2 * time.Second
	for end := time.Now().Add(outage); time.Now().Before(end); {
		write(1)
		time.Sleep(10 * time.Millisecond)
	}
	ln.Close()
	attempts := conns.Load()
	r.f.rcv.Start()
	if r.f.rcv.URL() != r.sp.url {
		r.sp.Kill()
		r.sp.Start()
	}
	ls, _ := r.waitIdle(30 * time.Second)
	r.verify(ls)
	// Backoff from 1 s doubling, with full jitter plus 100 ms, and a
	// heartbeat every 500 ms at most: a handful of connections in 2 s.
	// One per write (every 10 ms) would be hundreds.
	if attempts > 20 {
		t.Errorf("the shipper connected %d times in the %s the receiver was down (one line written every 10 ms); want a backoff, a handful (seed %d)",
			attempts, outage, seed)
	}
	t.Logf("%d connections while the receiver was down for %s", attempts, outage)
}

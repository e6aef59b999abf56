package testenv

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode"

	"github.com/cis490/cis490/internal/localsrv"
)

// shared holds the servers one test binary shares. It is global because
// a server is started on a test's first use and outlives that test;
// the mutex serialises starting and stopping them between parallel tests.
var shared struct {
	mu     sync.Mutex
	pg     *localsrv.PG
	pgErr  error // a failed start is not retried by every later test
	s3     *localsrv.S3Proc
	s3Err  error
	vgw    string // the versitygw binary, built once
	vgwDir string
	vgwErr error
	seq    int // names databases and buckets apart
}

// StopShared stops the servers Postgres and S3Server started and removes
// their files. A package that uses them calls it from TestMain after
// m.Run: a test's cleanup cannot, as the servers outlive every test.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg != nil {
		shared.pg.Destroy()
		shared.pg = nil
	}
	if shared.s3 != nil {
		shared.s3.Destroy()
		shared.s3 = nil
	}
	if shared.vgwDir != "" {
		os.RemoveAll(shared.vgwDir)
		shared.vgwDir, shared.vgw = "", ""
	}
	shared.pgErr, shared.s3Err, shared.vgwErr = nil, nil, nil
}

// nextName returns a name unique in this test binary, made of prefix,
// a number and what fits of the test's name in lowercase letters, digits
// and dashes (valid for both a database and a bucket).
func nextName(prefix, test string) string {
	shared.mu.Lock()
	shared.seq++
	n := shared.seq
	shared.mu.Unlock()
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	name := fmt.Sprintf("%s%d-%s", prefix, n, b.String())
	if len(name) > 60 {
		name = name[:60]
	}
	return strings.TrimRight(name, "-")
}

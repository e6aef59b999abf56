// Package integration holds end-to-end tests that build the real cis490
// binary, set up a fleet with its own CLI (ca init, ca issue) and drive a
// receiver running as a separate process: SIGKILL crash recovery, graceful
// SIGTERM shutdown and the version command. Everything lives in _test files;
// run them with `go test ./test/integration` (add -seed=N to replay a run).
package integration

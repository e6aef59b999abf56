// Package incidents is the project's library of replayed incidents: each
// writes a receiver's index through the contract (SPEC "The index"), runs
// the real `cis490 fleet-health --now` over it every 5 minutes as the
// timer does, and checks alerts.jsonl against the alerts written down
// before the detector ran it. Everything lives in _test files; run them
// with `go test -run TestIncidents -v ./test/incidents` (set
// CIS490_INCIDENT_REPORT=path to also get the time-to-detect table).
package incidents

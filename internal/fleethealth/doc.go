// Package fleethealth is the detector behind `cis490 fleet-health`: it
// reads what the receiver's index gained since its last run (a checkpoint
// that survives the index's daily rotation), folds it into bounded per-host
// state, judges each host (silent, fatal-only, stale-code, unstamped,
// duplicate-identity, gone) and the fleet (receiver-fault, fleet-silent),
// confirms a symptom over consecutive runs, fires it once per hour bucket,
// resolves it when it clears, and writes alerts.jsonl first, then syslog
// and the notifiers.
package fleethealth

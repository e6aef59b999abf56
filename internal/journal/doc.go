// Package journal reads the systemd journal without cgo: it runs
// journalctl --output=export, parses that format, filters entries and
// formats each as one line of a cis490 stream.
//
// Three rules keep a journal stream exactly once across crashes:
//
//   - journalctl is started with --cursor=<the last shipped entry> and no
//     match filters (systemd 252, Debian 12's, skips an entry when
//     --after-cursor meets a match the saved entry does not satisfy), and
//     the first entry is dropped only when its __CURSOR equals the saved
//     one: anything else means the saved entry is gone (vacuumed), which
//     is a loss to report, not an entry to drop ([Resume]).
//   - Filtering happens here ([Filter]), on entries journalctl gave in full.
//   - A line is a pure function of its entry ([Line]), never of when it was
//     read, so a batch resent after a crash is byte-identical and the
//     receiver's duplicate check holds.
package journal

// Package config loads and checks cis490's two configuration files:
// receiver.toml (the receiver and the admin commands that run beside it) and
// lab-host.toml (the shipper and the host timers).
//
// Both loaders start from the documented defaults, decode the file with
// BurntSushi/toml, reject keys they do not know, make relative paths absolute
// against the directory of the config file (not the working directory, so a
// unit and an admin's shell read the same files), fill the paths derived from
// other keys, and validate. Every error names the file, the line when it is
// known, the dotted key and what to write instead, in one sentence; see
// [Error].
//
// Sizes ([Size]) and durations ([Duration]) are written as strings with
// units, like "8MiB" and "30d".
package config

// Default locations of the two config files.
const (
	DefaultReceiverPath = "/etc/cis490/receiver.toml"
	DefaultLabHostPath  = "/etc/cis490/lab-host.toml"
)

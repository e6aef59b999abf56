package config

import "github.com/cis490/cis490/internal/names"

// validHost returns the canonical (lowercase) form of a host name; the rule
// lives in package names, shared with the receiver.
func validHost(s string) (string, error) { return names.Host(s) }

// validStream reports whether s is a valid stream name.
func validStream(s string) bool { return names.Stream(s) == nil }

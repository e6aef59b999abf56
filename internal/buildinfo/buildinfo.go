// Package buildinfo reports the running binary's version and the full git
// commit it was built from: the X-Cis490-Code-Commit stamp every client sends.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Info describes the running build.
type Info struct {
	Version  string // module version or "dev"
	Commit   string // full 40-hex git commit, empty when unknown
	Modified bool   // built from a tree with uncommitted changes
	Go       string
}

// Overridden at link time by release builds that have no VCS info:
// go build -ldflags "-X github.com/cis490/cis490/internal/buildinfo.commit=<sha>".
var (
	commit  string
	version string
)

// Read returns the build's info, from the linker flags if set, else from the
// VCS stamp the go command embeds (go build -buildvcs=true).
func Read() Info {
	info := Info{Version: "dev", Commit: commit}
	if version != "" {
		info.Version = version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Go = bi.GoVersion
	if v := bi.Main.Version; version == "" && v != "" && v != "(devel)" {
		info.Version = strings.TrimPrefix(v, "v")
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// UserAgent is the User-Agent every cis490 client sends.
func (i Info) UserAgent() string { return "cis490/" + i.Version }

package config

import (
	"cmp"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/journal"
	"github.com/cis490/cis490/internal/names"
)

// LabHost is a lab host's configuration, lab-host.toml, read by the shipper
// and the host timers (doctor-check, autoupdate, cert-fetch).
type LabHost struct {
	// Receiver is the receiver's base URL, https://host[:port], without a
	// trailing slash after Resolve.
	Receiver string `toml:"receiver"`
	// Host is this machine's canonical (lowercase) host name.
	Host string `toml:"host"`
	// StateDir holds the shipper's checkpoint and other host state.
	StateDir string  `toml:"state_dir"`
	TLS      HostTLS `toml:"tls"`
	Batch    Batch   `toml:"batch"`
	// Heartbeat is the longest the shipper stays quiet: when it has had
	// nothing to ship for this long it sends a heartbeat.
	Heartbeat Duration `toml:"heartbeat"`
	// Sources are the files to ship, one [[source]] each.
	Sources []Source `toml:"source"`
	// Journals are the systemd journal sources, one [[journal]] each.
	Journals []Journal `toml:"journal"`
	// ReleaseKey is the release signing key's public half (base64, from
	// `cis490 release keygen`): autoupdate installs only what it signed.
	ReleaseKey string `toml:"release_key"`

	file string // the path it was loaded from, for error messages
}

// HostTLS names the host's credentials. All are required; relative paths
// are resolved against the directory of the config file.
type HostTLS struct {
	Cert      string `toml:"cert"`       // client certificate (PEM)
	Key       string `toml:"key"`        // its private key (PEM)
	CA        string `toml:"ca"`         // fleet CA certificate (PEM)
	TokenFile string `toml:"token_file"` // file holding the host bearer token
}

// Batch says when the shipper sends: when MaxBytes are ready or MaxWait
// after the first unsent byte, whichever comes first.
type Batch struct {
	MaxBytes Size     `toml:"max_bytes"`
	MaxWait  Duration `toml:"max_wait"`
}

// Source is one configured file, shipped as one stream.
type Source struct {
	// Path is an absolute file path or glob (*, ?, [...]).
	Path string `toml:"path"`
	// Stream names the stream of a plain path; empty means the name is
	// derived from the path. Not allowed with a glob, whose files each get
	// a derived stream.
	Stream string `toml:"stream"`
	// Exclude, for a glob only: base names (or patterns of them) of files
	// the glob matches that are not shipped, such as the files rsyslog
	// copies the journal into when the journal is shipped too.
	Exclude []string `toml:"exclude"`
}

// Journal is one systemd journal source, shipped as one stream through
// journalctl (package journal).
type Journal struct {
	// Stream is its stream's name; Resolve makes an empty one "journal".
	Stream string `toml:"stream"`
	// Units and Identifiers choose the entries shipped: of any listed unit
	// or any listed SYSLOG_IDENTIFIER; neither: every entry.
	Units       []string `toml:"units"`
	Identifiers []string `toml:"identifiers"`
	// Priority is the least urgent priority shipped ("info" ships all but
	// debug); Resolve makes an empty one "debug" (all).
	Priority string `toml:"priority"`
	// Since is where a first start begins: "boot" (the current boot, the
	// default) or "all" (the whole journal). Later starts resume after
	// the last entry shipped.
	Since string `toml:"since"`
	// UserJournals ships users' own journals too; off, only the system's.
	UserJournals bool `toml:"user_journals"`
}

// IsGlob reports whether the source's path is a glob pattern.
func (s Source) IsGlob() bool { return strings.ContainsAny(s.Path, "*?[") }

// DefaultLabHost returns the lab host defaults. Receiver, Host, the TLS
// paths and the sources have no default.
func DefaultLabHost() LabHost {
	return LabHost{
		StateDir:  "/var/lib/cis490",
		Batch:     Batch{MaxBytes: 1 * MiB, MaxWait: Duration(5 * time.Second)},
		Heartbeat: Duration(5 * time.Minute),
	}
}

// LoadLabHost reads the lab host config at path over the defaults, rejects
// unknown keys, resolves relative paths against the file's directory,
// canonicalises the host name and validates. Errors name the file, the
// line when known and the key; see [Error].
func LoadLabHost(path string) (*LabHost, error) {
	h := DefaultLabHost()
	dir, err := decodeFile(path, &h)
	if err != nil {
		return nil, err
	}
	h.file = path
	h.Resolve(dir)
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// Resolve makes relative paths (state_dir and the tls files) absolute
// against dir (the config file's directory), lowercases Host (ASCII only)
// and drops a trailing slash from Receiver. Source paths are not resolved:
// they must be absolute. LoadLabHost calls it; call it on a LabHost built in
// code.
func (h *LabHost) Resolve(dir string) {
	h.StateDir = resolvePath(dir, h.StateDir)
	if h.StateDir != "" {
		h.StateDir = filepath.Clean(h.StateDir)
	}
	h.TLS.Cert = resolvePath(dir, h.TLS.Cert)
	h.TLS.Key = resolvePath(dir, h.TLS.Key)
	h.TLS.CA = resolvePath(dir, h.TLS.CA)
	h.TLS.TokenFile = resolvePath(dir, h.TLS.TokenFile)
	h.Host = foldASCII(h.Host)
	h.Receiver = strings.TrimRight(h.Receiver, "/")
	for i := range h.Journals {
		j := &h.Journals[i]
		j.Stream = cmp.Or(j.Stream, "journal")
		j.Priority = cmp.Or(j.Priority, "debug")
		j.Since = cmp.Or(j.Since, "boot")
	}
}

// Validate checks every key and returns all problems found, one *Error per
// line (joined with errors.Join), or nil.
func (h *LabHost) Validate() error {
	p := &problems{file: h.file}
	if p.file == "" {
		p.file = "lab-host.toml"
	}
	validReceiverURL(p, "receiver", h.Receiver)
	switch c, err := validHost(h.Host); {
	case h.Host == "":
		p.add("host", `is missing; write this machine's host name, like "lab-pc-07"`)
	case err != nil:
		p.add("host", "%q is not a valid host name: %s; write a DNS name of letters, digits and '-' (labels joined by dots), like \"lab-pc-07\"", h.Host, strings.TrimPrefix(err.Error(), names.ErrInvalid.Error()+": "))
	case c != h.Host:
		p.add("host", "%q is not canonical; write it in lowercase, %q", h.Host, c)
	}
	absPath(p, "state_dir", h.StateDir, true)
	absPath(p, "tls.cert", h.TLS.Cert, false)
	absPath(p, "tls.key", h.TLS.Key, false)
	absPath(p, "tls.ca", h.TLS.CA, false)
	absPath(p, "tls.token_file", h.TLS.TokenFile, false)
	if h.Batch.MaxBytes <= 0 {
		p.add("batch.max_bytes", "%s is not a positive size; write a size like \"1MiB\" (at most the receiver's limits.max_body)", h.Batch.MaxBytes)
	}
	if h.Batch.MaxWait <= 0 {
		p.add("batch.max_wait", "%s is not a positive duration; write a duration like \"5s\"", h.Batch.MaxWait)
	}
	if h.Heartbeat <= 0 {
		p.add("heartbeat", "%s is not a positive duration; write a duration like \"5m\"", h.Heartbeat)
	}
	paths, streams := map[string]int{}, map[string]int{}
	for i, s := range h.Sources {
		key := fmt.Sprintf("source[%d]", i)
		switch {
		case s.Path == "":
			p.add(key+".path", `is missing; write the absolute path or glob of the file to ship, like "/var/log/syslog" or "/var/log/lab/*.log"`)
		case !filepath.IsAbs(s.Path):
			p.add(key+".path", "%q is relative; write an absolute path or glob, like \"/var/log/syslog\"", s.Path)
		default:
			if _, err := filepath.Match(s.Path, ""); err != nil {
				p.add(key+".path", "%q is not a valid glob (%v); close every '[' or escape it with '\\'", s.Path, err)
			}
			if j, dup := paths[filepath.Clean(s.Path)]; dup {
				p.add(key+".path", "%q is already source[%d]; list each file once", s.Path, j)
			}
			paths[filepath.Clean(s.Path)] = i
		}
		for k, x := range s.Exclude {
			if _, err := filepath.Match(x, ""); !s.IsGlob() || x == "" || strings.Contains(x, "/") || err != nil {
				p.add(fmt.Sprintf("%s.exclude[%d]", key, k), "%q cannot be excluded here; exclude takes base names or patterns of them (like \"syslog\" or \"*.gz\"), for a glob path only", x)
			}
		}
		if s.Stream == "" {
			continue
		}
		switch {
		case s.IsGlob():
			p.add(key+".stream", "is set but path %q is a glob, whose files each get their own stream; remove stream or list each file as its own [[source]]", s.Path)
		case !validStream(s.Stream):
			p.add(key+".stream", "%q is not a stream name; write 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, like \"syslog\"", s.Stream)
		default:
			if j, dup := streams[s.Stream]; dup {
				p.add(key+".stream", "%q is already the stream of source[%d]; give each source its own stream", s.Stream, j)
			}
			streams[s.Stream] = i
		}
	}
	validJournals(p, h.Journals, streams)
	return p.err()
}

// validJournals checks the [[journal]] sources; streams holds the stream
// names the file sources took.
func validJournals(p *problems, js []Journal, streams map[string]int) {
	taken := map[string]string{}
	for s, i := range streams {
		taken[s] = fmt.Sprintf("source[%d]", i)
	}
	for i, j := range js {
		key := fmt.Sprintf("journal[%d]", i)
		switch other, dup := taken[j.Stream]; {
		case !validStream(j.Stream):
			p.add(key+".stream", "%q is not a stream name; write 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, like \"journal\"", j.Stream)
		case dup:
			p.add(key+".stream", "%q is already the stream of %s; give each source its own stream", j.Stream, other)
		default:
			taken[j.Stream] = key
		}
		if _, ok := journal.ParsePriority(j.Priority); !ok {
			p.add(key+".priority", "%q is not a priority; write one of emerg, alert, crit, err, warning, notice, info, debug (the least urgent to ship)", j.Priority)
		}
		if j.Since != "boot" && j.Since != "all" {
			p.add(key+".since", "%q is not where to start; write \"boot\" (the current boot, on a first start) or \"all\" (the whole journal)", j.Since)
		}
		for n, list := range [][]string{j.Units, j.Identifiers} {
			for k, v := range list {
				field := [...]string{"units", "identifiers"}[n]
				if _, err := path.Match(v, ""); v == "" || strings.ContainsAny(v, "/ \t\n") || err != nil {
					p.add(fmt.Sprintf("%s.%s[%d]", key, field, k), "%q is not a name or pattern; write one like \"ssh\", \"cron.service\" or \"user@*\"", v)
				}
			}
		}
	}
}

func validReceiverURL(p *problems, key, s string) {
	const hint = `write the receiver's https:// URL, like "https://receiver.lab:8443"`
	if s == "" {
		p.add(key, "is missing; %s", hint)
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		p.add(key, "%q is not a URL; %s", s, hint)
	case u.Scheme == "http":
		p.add(key, "%q uses plain http, but the receiver speaks only mutual TLS; write https://, like %q", s, "https://"+u.Host)
	case u.Scheme != "https":
		p.add(key, "%q is not an https:// URL; %s", s, hint)
	case u.Hostname() == "":
		p.add(key, "%q has no host; %s", s, hint)
	case u.User != nil:
		p.add(key, "%q holds credentials; remove them (hosts authenticate with tls and token_file) and %s", s, hint)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		p.add(key, "%q has more than scheme, host and port; %s", s, hint)
	default:
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				p.add(key, "%q has no valid port number; %s", s, hint)
			}
		}
	}
}

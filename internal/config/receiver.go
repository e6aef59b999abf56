package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/datadir"
)

// Receiver is the receiver's configuration, receiver.toml. The admin
// commands that run on the receiver (ca, token, host remove, fleet-health)
// read it too.
type Receiver struct {
	// Listen is the address the HTTPS API listens on, host:port.
	Listen string `toml:"listen"`
	// DataDir holds logs/, index/, host-health/, alerts.jsonl, releases/
	// and ca/. A relative path in the file is resolved against the
	// directory of the config file.
	DataDir string `toml:"data_dir"`
	// ServerNames are the DNS names and IP addresses the receiver's server
	// certificate covers (used by `cis490 ca init`).
	ServerNames []string `toml:"server_names"`
	// ProxyProtocolFrom are the TCP load balancers (addresses or CIDR
	// prefixes) in front of the receiver: their connections must start
	// with a PROXY protocol header (v1 or v2) naming the caller.
	ProxyProtocolFrom []string    `toml:"proxy_protocol_from"`
	TLS               ReceiverTLS `toml:"tls"`
	Limits            Limits      `toml:"limits"`
	Quota             Quota       `toml:"quota"`
	Retention         Retention   `toml:"retention"`
	Index             Index       `toml:"index"`
	Gate              Gate        `toml:"gate"`
	FleetHealth       FleetHealth `toml:"fleet_health"`
	Certs             Certs       `toml:"certs"`
	Storage           Storage     `toml:"storage"`
	// ReleaseKey is the public half of the release signing key (base64, as
	// `cis490 release keygen` prints it). Enrolling hosts receive it and
	// pin it as their release_key, so autoupdate works from the first day
	// without editing every lab-host.toml. The receiver verifies every
	// release with it too, on upload and when it reads the stored ones:
	// the private half never comes here, so an admin credential alone
	// cannot publish a release. Empty, it takes and offers none.
	ReleaseKey string `toml:"release_key"`
	// Shutdown is how long a stopping receiver waits for requests in flight.
	Shutdown Duration `toml:"shutdown_timeout"`

	file string // the path it was loaded from, for error messages
}

// ReceiverTLS names the receiver's certificate files. Empty paths default
// to <data_dir>/ca/server.crt, server.key and ca.crt; relative paths are
// resolved against the directory of the config file.
type ReceiverTLS struct {
	Cert string `toml:"cert"` // server certificate (PEM)
	Key  string `toml:"key"`  // its private key (PEM)
	CA   string `toml:"ca"`   // fleet CA certificate that signs client certificates (PEM)
}

// Limits bound what the receiver accepts at once.
type Limits struct {
	// MaxBody is the largest request body; a larger one gets 413.
	MaxBody Size `toml:"max_body"`
	// MaxInflight is the memory for request bodies being read at once;
	// beyond it the receiver answers 503 with Retry-After.
	MaxInflight Size `toml:"max_inflight"`
	// MaxInflightPerHost is the part of MaxInflight one host's bodies may
	// hold (0: a quarter of it, at least MaxBody).
	MaxInflightPerHost Size `toml:"max_inflight_per_host"`
	// MinBodyRate is the bytes a second a body must average over 30 s, or
	// it is cut with 408 (0: no minimum).
	MinBodyRate Size `toml:"min_body_rate"`
	// MinFree is the free disk space the store keeps; below it writes get 507.
	MinFree Size `toml:"min_free"`
	// MaxConns caps the receiver's connections; past it new ones are
	// closed. MaxConnsPerAddress caps those not yet authenticated from one
	// remote address; MaxConnsPerHost those authenticated as one host or
	// admin (its idle ones make room for a new one).
	// HostRate is the requests a second one host may send on average and
	// HostBurst how many at once; past them 429 (HostRate 0: no limit).
	HostRate           float64 `toml:"host_rate"`
	HostBurst          int     `toml:"host_burst"`
	MaxConns           int     `toml:"max_conns"`
	MaxConnsPerAddress int     `toml:"max_conns_per_address"`
	MaxConnsPerHost    int     `toml:"max_conns_per_host"`
}

// Quota bounds what one host may store; 0 means unlimited. A host over
// its quota gets 429.
type Quota struct {
	HostBytesPerDay Size `toml:"host_bytes_per_day"` // per UTC day
	HostBytesTotal  Size `toml:"host_bytes_total"`   // currently stored, all streams
	HostStreams     int  `toml:"host_streams"`       // streams a host may make; 0 = unlimited
}

// Retention drops a stream's oldest bytes; 0 means no limit.
type Retention struct {
	MaxAge   Duration `toml:"max_age"`   // drop bytes older than this
	MaxBytes Size     `toml:"max_bytes"` // keep at most this much in total, oldest dropped first
}

// Index bounds the request index (index/YYYY-MM-DD.jsonl); old day files
// are pruned first. 0 means no limit.
type Index struct {
	MaxAge   Duration `toml:"max_age"`
	MaxBytes Size     `toml:"max_bytes"`
}

// Gate is the version gate on PUT /v1/logs.
type Gate struct {
	// Accept is how many of the newest releases are accepted (at least 1).
	Accept int `toml:"accept"`
	// Releases are the known releases, oldest first.
	Releases []Release `toml:"releases"`
}

// Certs says how long the certificates the receiver's CA signs live.
type Certs struct {
	// HostLifetime is a host certificate's life when it enrolls; short,
	// as hosts renew themselves (cis490 cert-fetch).
	HostLifetime Duration `toml:"host_lifetime"`
	// RenewGrace is how long after it expired a host certificate may
	// still renew (proven by its key and the host's token).
	RenewGrace Duration `toml:"renew_grace"`
}

// Release is one known release.
type Release struct {
	Version string `toml:"version"`
	Commit  string `toml:"commit"` // full 40-hex git commit
}

// DefaultReceiver returns the receiver defaults. The TLS paths stay empty
// until Resolve derives them from DataDir.
func DefaultReceiver() Receiver {
	return Receiver{
		Listen:      ":8443",
		DataDir:     "/var/lib/cis490",
		ServerNames: []string{"localhost"},
		Limits: Limits{
			MaxBody:     8 * MiB,
			MaxInflight: 64 * MiB,
			MinFree:     256 * MiB,
			MinBodyRate: 1 * KiB,

			HostRate:           50,
			HostBurst:          500,
			MaxConns:           4096,
			MaxConnsPerAddress: 256,
			MaxConnsPerHost:    16,
		},
		Quota: Quota{
			HostBytesPerDay: 1 * GiB,
			HostBytesTotal:  20 * GiB,
			HostStreams:     1000,
		},
		Retention:   Retention{MaxAge: Duration(90 * Day)},
		Index:       Index{MaxAge: Duration(400 * Day), MaxBytes: 2 * GiB},
		Gate:        Gate{Accept: 2},
		FleetHealth: DefaultFleetHealth(),
		Certs:       Certs{HostLifetime: Duration(30 * Day), RenewGrace: Duration(30 * Day)},
		Shutdown:    Duration(30 * time.Second),
	}
}

// LoadReceiver reads the receiver config at path over the defaults, rejects
// unknown keys, resolves relative paths against the file's directory,
// derives the TLS paths and validates. Errors name the file, the line when
// known and the key; see [Error].
func LoadReceiver(path string) (*Receiver, error) {
	r := DefaultReceiver()
	dir, err := decodeFile(path, &r)
	if err != nil {
		return nil, err
	}
	r.file = path
	r.Resolve(dir)
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Resolve makes relative paths absolute against dir (the config file's
// directory), fills the TLS paths left empty from DataDir and lowercases
// ServerNames. LoadReceiver calls it; call it on a Receiver built in code.
func (r *Receiver) Resolve(dir string) {
	r.DataDir = resolvePath(dir, r.DataDir)
	if r.DataDir != "" {
		r.DataDir = filepath.Clean(r.DataDir)
	}
	fill := func(p *string, path func(datadir.Dir) string) {
		if *p == "" && r.DataDir != "" {
			*p = path(datadir.Dir(r.DataDir))
		}
		*p = resolvePath(dir, *p)
	}
	r.Storage.resolve(dir)
	fill(&r.TLS.Cert, datadir.Dir.ServerCert)
	fill(&r.TLS.Key, datadir.Dir.ServerKey)
	fill(&r.TLS.CA, datadir.Dir.CACert)
	for i, n := range r.ServerNames {
		r.ServerNames[i] = foldASCII(n)
	}
}

var (
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
)

// Validate checks every key and returns all problems found, one *Error per
// line (joined with errors.Join), or nil.
// ProxyPrefixes is ProxyProtocolFrom parsed; Validate has checked it.
func (r *Receiver) ProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range r.ProxyProtocolFrom {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads an address (a prefix of one) or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

func (r *Receiver) Validate() error {
	p := &problems{file: r.file}
	if p.file == "" {
		p.file = "receiver.toml"
	}
	validListen(p, "listen", r.Listen)
	for _, a := range r.ProxyProtocolFrom {
		if _, err := parsePrefix(a); err != nil {
			p.add("proxy_protocol_from", "%q is not an address or CIDR prefix; write the load balancer's address, like \"10.0.0.5\" or \"10.0.0.0/24\"", a)
		}
	}
	absPath(p, "data_dir", r.DataDir, true)
	if len(r.ServerNames) == 0 {
		p.add("server_names", `is empty; list the names and addresses hosts use to reach the receiver, like ["receiver.lab", "10.0.0.2"]`)
	}
	seen := map[string]bool{}
	for i, n := range r.ServerNames {
		key := fmt.Sprintf("server_names[%d]", i)
		if net.ParseIP(n) == nil {
			if _, err := validHost(n); err != nil {
				p.add(key, "%q is neither a DNS name nor an IP address: %v; write a name like \"receiver.lab\" or an address like \"10.0.0.2\"", n, err)
				continue
			}
		}
		if seen[n] {
			p.add(key, "%q is listed twice; remove the duplicate", n)
		}
		seen[n] = true
	}
	r.Storage.validate(p)
	absPath(p, "tls.cert", r.TLS.Cert, false)
	absPath(p, "tls.key", r.TLS.Key, false)
	absPath(p, "tls.ca", r.TLS.CA, false)

	if r.Limits.MaxBody <= 0 {
		p.add("limits.max_body", "%s is not a positive size; write a size like \"8MiB\"", r.Limits.MaxBody)
	}
	if r.Limits.MaxInflight < r.Limits.MaxBody {
		p.add("limits.max_inflight", "%s is smaller than limits.max_body (%s), so a largest body could never be read; write at least %s", r.Limits.MaxInflight, r.Limits.MaxBody, r.Limits.MaxBody)
	}
	nonNegSize(p, "limits.min_free", r.Limits.MinFree)
	nonNegSize(p, "limits.max_inflight_per_host", r.Limits.MaxInflightPerHost)
	if r.Limits.HostRate < 0 || r.Limits.HostBurst < 0 || r.Quota.HostStreams < 0 {
		p.add("limits.host_rate", "limits.host_rate, limits.host_burst and quota.host_streams may not be negative; 0 means no limit")
	}
	if r.Limits.HostRate > 0 && r.Limits.HostBurst < 1 {
		p.add("limits.host_burst", "must be at least 1 when limits.host_rate is set; leave it out for the default 500")
	}
	nonNegSize(p, "limits.min_body_rate", r.Limits.MinBodyRate)
	if r.Limits.MaxInflightPerHost > 0 && (r.Limits.MaxInflightPerHost < r.Limits.MaxBody || r.Limits.MaxInflightPerHost > r.Limits.MaxInflight) {
		p.add("limits.max_inflight_per_host", "%s is not between limits.max_body (%s) and limits.max_inflight (%s); leave it out for a quarter of max_inflight", r.Limits.MaxInflightPerHost, r.Limits.MaxBody, r.Limits.MaxInflight)
	}
	for _, c := range []struct {
		key string
		n   int
	}{{"limits.max_conns", r.Limits.MaxConns}, {"limits.max_conns_per_address", r.Limits.MaxConnsPerAddress}, {"limits.max_conns_per_host", r.Limits.MaxConnsPerHost}} {
		if c.n <= 0 {
			p.add(c.key, "%d is not a positive number of connections; leave it out for the default", c.n)
		}
	}
	nonNegSize(p, "quota.host_bytes_per_day", r.Quota.HostBytesPerDay)
	nonNegSize(p, "quota.host_bytes_total", r.Quota.HostBytesTotal)
	nonNegDuration(p, "retention.max_age", r.Retention.MaxAge)
	nonNegSize(p, "retention.max_bytes", r.Retention.MaxBytes)
	nonNegDuration(p, "index.max_age", r.Index.MaxAge)
	if r.Index.MaxAge > 0 && r.Index.MaxAge < Duration(Day) {
		p.add("index.max_age", "%s is shorter than the 24h window fleet-health reads; write at least \"1d\" (the default is \"400d\"), or 0 for no limit", r.Index.MaxAge)
	}
	nonNegSize(p, "index.max_bytes", r.Index.MaxBytes)

	if r.Gate.Accept < 1 {
		p.add("gate.accept", "%d accepts no release at all; write 1 or more (the default is 2)", r.Gate.Accept)
	}
	versions, commits := map[string]int{}, map[string]int{}
	for i, rel := range r.Gate.Releases {
		key := fmt.Sprintf("gate.releases[%d]", i)
		switch {
		case rel.Version == "":
			p.add(key+".version", `is missing; write the release's version, like "1.4.0"`)
		case !versionRE.MatchString(rel.Version):
			p.add(key+".version", "%q is not a version name; write letters, digits, '.', '_', '+' and '-' only (at most 64, starting with a letter or digit), like \"1.4.0\"", rel.Version)
		default:
			if j, dup := versions[rel.Version]; dup {
				p.add(key+".version", "%q is already gate.releases[%d]; list each release once", rel.Version, j)
			}
			versions[rel.Version] = i
		}
		switch {
		case rel.Commit == "":
			p.add(key+".commit", "is missing; write the 40-hex output of git rev-parse HEAD for that release")
		case !commitRE.MatchString(rel.Commit):
			p.add(key+".commit", "%q is not a full commit; write the 40-hex output of git rev-parse HEAD (lowercase, not abbreviated)", rel.Commit)
		default:
			if j, dup := commits[rel.Commit]; dup {
				p.add(key+".commit", "%s is already the commit of gate.releases[%d]; each release has its own commit", rel.Commit, j)
			}
			commits[rel.Commit] = i
		}
	}
	r.FleetHealth.validate(p)
	if r.ReleaseKey != "" && !validPublicKey(r.ReleaseKey) {
		p.add("release_key", "is not an Ed25519 public key; paste the base64 line `cis490 release keygen` printed (the public key, never the key file)")
	}
	if r.Certs.HostLifetime < Duration(time.Hour) {
		p.add("certs.host_lifetime", "%s is too short for a certificate; write at least \"1h\" (the default is \"30d\")", r.Certs.HostLifetime)
	}
	if r.Shutdown <= 0 {
		p.add("shutdown_timeout", "%s is not a positive duration; write a duration like \"30s\"", r.Shutdown)
	}
	return p.err()
}

func validListen(p *problems, key, addr string) {
	const hint = `write host:port or :port, like ":8443" or "10.0.0.2:8443"`
	if addr == "" {
		p.add(key, "is empty; %s", hint)
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "%q is not an address; %s", addr, hint)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(key, "%q has no valid port number; %s", addr, hint)
	}
}

func absPath(p *problems, key, path string, isDir bool) {
	what := "file"
	if isDir {
		what = "directory"
	}
	switch {
	case path == "":
		p.add(key, "is empty; write the path of a %s", what)
	case !filepath.IsAbs(path):
		p.add(key, "%q is relative; write an absolute path (in a config file a relative path is taken from the file's directory)", path)
	}
}

func nonNegSize(p *problems, key string, s Size) {
	if s < 0 {
		p.add(key, "%d is negative; write a size like \"1GiB\", or 0 for no limit", int64(s))
	}
}

func nonNegDuration(p *problems, key string, d Duration) {
	if d < 0 {
		p.add(key, "%s is negative; write a duration like \"90d\", or 0 for no limit", d)
	}
}

// validPublicKey: base64 of 32 bytes, an Ed25519 public key.
func validPublicKey(s string) bool {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	return err == nil && len(b) == 32
}

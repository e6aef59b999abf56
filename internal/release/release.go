// Package release signs and verifies cis490 release manifests: Ed25519
// over the manifest's exact bytes, with the public key pinned on every
// host (lab-host.toml), so neither the receiver nor the network can hand a
// host a binary the release key did not sign.
package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Manifest describes one release.
type Manifest struct {
	Version string `json:"version"`
	Commit  string `json:"commit"` // full 40-hex git commit
	// Rollout is the percentage of hosts that take it (by a stable hash
	// of the host name); 100 is a full release.
	Rollout   int                 `json:"rollout"`
	Artifacts map[string]Artifact `json:"artifacts"` // by platform, like linux-amd64
	Created   time.Time           `json:"created"`
}

// Artifact is one platform's binary.
type Artifact struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ValidVersion reports whether v is a release version (MAJOR.MINOR.PATCH).
func ValidVersion(v string) bool { return versionRE.MatchString(v) }

// ValidFile reports whether name is a file a release holds: its manifest
// or an artifact. The receiver serves and stores only these names.
func ValidFile(name string) bool { return name == ManifestFile || fileRE.MatchString(name) }

// Signed is the manifest file: the manifest's bytes and their signature.
type Signed struct {
	Payload   string `json:"payload"`   // base64 of the manifest JSON
	Signature string `json:"signature"` // base64 Ed25519 over those bytes
}

// ManifestFile is the signed manifest's name in a release.
const ManifestFile = "manifest.json"

var (
	versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	fileRE    = regexp.MustCompile(`^cis490-(linux-(amd64|arm64|armv7))$`)
)

// KeyGen makes a release key pair: the private key (keep it off the
// receiver) and the public key hosts pin, both base64.
func KeyGen() (priv, pub string, err error) {
	p, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(p), nil
}

// Sign makes a release manifest for binaries (named cis490-linux-amd64,
// cis490-linux-arm64, cis490-linux-armv7) and signs it.
func Sign(privB64, version, commit string, rollout int, binaries []string, now time.Time) ([]byte, *Manifest, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(privB64))
	if err != nil || len(key) != ed25519.PrivateKeySize {
		return nil, nil, errors.New("the release key is not an Ed25519 private key (cis490 release keygen makes one)")
	}
	if !versionRE.MatchString(version) {
		return nil, nil, fmt.Errorf("version %q: write MAJOR.MINOR.PATCH, like 1.4.0", version)
	}
	if !commitRE.MatchString(commit) {
		return nil, nil, fmt.Errorf("commit %q: write the full 40-hex git commit", commit)
	}
	if rollout < 1 || rollout > 100 {
		return nil, nil, fmt.Errorf("rollout %d: give 1 to 100 (percent of hosts)", rollout)
	}
	m := &Manifest{Version: version, Commit: commit, Rollout: rollout, Artifacts: map[string]Artifact{}, Created: now.UTC()}
	for _, b := range binaries {
		name := filepath.Base(b)
		sub := fileRE.FindStringSubmatch(name)
		if sub == nil {
			return nil, nil, fmt.Errorf("%s: name each binary cis490-linux-amd64, cis490-linux-arm64 or cis490-linux-armv7", b)
		}
		sum, size, err := hashFile(b)
		if err != nil {
			return nil, nil, err
		}
		m.Artifacts[sub[1]] = Artifact{File: name, SHA256: sum, Size: size}
	}
	if len(m.Artifacts) == 0 {
		return nil, nil, errors.New("no binary to release")
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	sig := ed25519.Sign(ed25519.PrivateKey(key), payload)
	out, err := json.MarshalIndent(Signed{Payload: base64.StdEncoding.EncodeToString(payload), Signature: base64.StdEncoding.EncodeToString(sig)}, "", "  ")
	return append(out, '\n'), m, err
}

// ErrSignature: a manifest whose signature the key does not verify.
var ErrSignature = errors.New("the manifest's signature does not verify with the pinned release key: refused")

// Verify checks a signed manifest against the pinned public key and
// returns the manifest.
func Verify(pubB64 string, signed []byte) (*Manifest, error) {
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(pubB64))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("the pinned release key is not an Ed25519 public key")
	}
	var s Signed
	if err := json.Unmarshal(signed, &s); err != nil {
		return nil, fmt.Errorf("not a signed manifest: %w", err)
	}
	payload, err1 := base64.StdEncoding.DecodeString(s.Payload)
	sig, err2 := base64.StdEncoding.DecodeString(s.Signature)
	if err1 != nil || err2 != nil || !ed25519.Verify(ed25519.PublicKey(pub), payload, sig) {
		return nil, ErrSignature
	}
	var m Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("the signed manifest is not a manifest: %w", err)
	}
	if !versionRE.MatchString(m.Version) || !commitRE.MatchString(m.Commit) || m.Rollout < 1 || m.Rollout > 100 {
		return nil, errors.New("the signed manifest is malformed")
	}
	return &m, nil
}

// Newer reports whether version a is newer than b (MAJOR.MINOR.PATCH).
func Newer(a, b string) bool {
	pa, pb := parts(a), parts(b)
	for i := range 3 {
		if pa[i] != pb[i] {
			return pa[i] > pb[i]
		}
	}
	return false
}

func parts(v string) [3]int {
	var out [3]int
	for i, p := range strings.SplitN(v, ".", 3) {
		if i < 3 {
			out[i], _ = strconv.Atoi(p)
		}
	}
	return out
}

// Matches checks a downloaded artifact's size and sha256 against the
// signed ones.
func (a Artifact) Matches(size int64, sum []byte) error {
	if size != a.Size || hex.EncodeToString(sum) != a.SHA256 {
		return fmt.Errorf("%s does not match its signed sha256 and size: refused", a.File)
	}
	return nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Read reads a signed manifest's payload without verifying it: for
// `release publish`, which needs only its version and files and holds no
// public key. The receiver (Shelf) and hosts always Verify.
func Read(signed []byte) (*Manifest, error) {
	var s Signed
	if err := json.Unmarshal(signed, &s); err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(s.Payload)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

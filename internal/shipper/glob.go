package shipper

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cis490/cis490/internal/names"
)

// GlobStream is the stream a file matched by a glob ships as. The rule is
// collision-free: it encodes the file's path relative to the glob's fixed
// folder (the part before the first wildcard), so two files never share a
// stream:
//
//   - from the second byte on, letters, digits, '.' and '-' stand for
//     themselves, '/' becomes "__", and any other byte '_' and two hex
//     digits ('_' itself is "_5f");
//   - the first byte stands for itself if it is a letter or digit other
//     than 'x'; otherwise it becomes 'x' and two hex digits (".hidden"
//     ships as "x2ehidden");
//   - a name longer than 128 bytes keeps its first 110 and ends in "_h"
//     and 16 hex digits of the SHA-256 of the relative path.
//
// So /var/log/*/app.log ships /var/log/nginx/app.log as "nginx__app.log".
func GlobStream(pattern, file string) string {
	rel, err := filepath.Rel(globRoot(pattern), file)
	if err != nil {
		rel = file
	}
	rel = filepath.ToSlash(rel)
	var b strings.Builder
	for i := 0; i < len(rel); i++ {
		c := rel[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		switch {
		case i == 0 && alnum && c != 'x':
			b.WriteByte(c)
		case i == 0:
			b.WriteByte('x')
			b.WriteString(hex.EncodeToString([]byte{c}))
		case alnum || c == '.' || c == '-':
			b.WriteByte(c)
		case c == '/':
			b.WriteString("__")
		default:
			b.WriteByte('_')
			b.WriteString(hex.EncodeToString([]byte{c}))
		}
	}
	name := b.String()
	if len(name) > names.MaxStream {
		sum := sha256.Sum256([]byte(rel))
		name = name[:110] + "_h" + hex.EncodeToString(sum[:8])
	}
	return name
}

// globRoot is the folder before a pattern's first wildcard.
func globRoot(pattern string) string {
	i := strings.IndexAny(pattern, "*?[")
	if i < 0 {
		return filepath.Dir(pattern)
	}
	return filepath.Dir(pattern[:i] + "x")
}

// rotatedSuffix matches what logrotate and friends append to a file they
// rotate: .1, .2.gz, -20261127, -20261127.gz, .old.
var rotatedSuffix = regexp.MustCompile(`^(\.[0-9]+|-[0-9]{8}(-[0-9]+)?|\.old)(\.(gz|bz2|xz|zst|lz4))?$`)

// globFiles expands pattern to the files a glob source follows: regular
// files, no compressed ones, and never the rotated copy of another file
// the glob matches (app.log.1 next to app.log is app.log's past, shipped
// as part of app.log's stream).
// followed are files already followed, which count as originals even when
// briefly absent during a rotation.
func globFiles(pattern string, followed map[string]bool) []string {
	matches, _ := filepath.Glob(pattern)
	sort.Strings(matches)
	set := map[string]bool{}
	for _, m := range matches {
		set[m] = true
	}
	for m := range followed {
		set[m] = true
	}
	var out []string
	for _, m := range matches {
		if st, err := os.Stat(m); err != nil || !st.Mode().IsRegular() || compressed(m) || isRotatedCopy(m, set) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func isRotatedCopy(m string, set map[string]bool) bool {
	for other := range set {
		if other != m && strings.HasPrefix(m, other) && rotatedSuffix.MatchString(m[len(other):]) {
			return true
		}
	}
	return false
}

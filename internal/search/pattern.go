// Package search finds lines in the fleet's log streams without a
// full-text index: what a pattern matches (Compile), which tokens a block
// must hold for a line in it to match (Matcher.Tokens), a token filter per
// block that lets a search skip blocks that cannot match (Filter), and a
// scanner that finds matching lines in a stream read in chunks that are
// not line-aligned (Scanner).
package search

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxPattern is the longest pattern accepted, in bytes.
const MaxPattern = 1024

// Mode is how a pattern is read.
type Mode int

const (
	// Words (the default) matches the pattern as written, with word
	// edges at its ends: "memory" matches "out of memory" and "memory:",
	// not "memoryless". Every word in it is a whole token of the line,
	// so the block filters can skip blocks without all of them.
	Words Mode = iota
	// Substring matches the pattern anywhere, inside words too. Only its
	// inner words (not touching its ends) are whole tokens of the line:
	// a pattern with none scans every block.
	Substring
	// Regex is a Go regular expression (RE2 syntax) matched against each
	// line. Its required literal, if any, picks the candidate lines and
	// the literal's inner words skip blocks.
	Regex
)

// Query is a search as asked.
type Query struct {
	Pattern    string
	Mode       Mode
	IgnoreCase bool
}

// Matcher matches lines against a compiled query.
type Matcher struct {
	needle []byte         // what a matching line contains (folded to ASCII lower case with fold)
	fold   bool           // compare in ASCII lower case
	words  [2]bool        // need a word edge before / after needle
	re     *regexp.Regexp // Regex, and Words or Substring with a non-ASCII -i pattern
	tokens []string       // tokens a matching line holds whole, lower case
}

// Errors of Compile, for the caller to tell bad input apart.
var (
	ErrEmpty    = errors.New("the pattern is empty; give the text to look for")
	ErrTooLong  = fmt.Errorf("the pattern is longer than %d bytes; search for a shorter, distinctive part of the line", MaxPattern)
	ErrNewline  = errors.New("the pattern holds a line break; a search matches within one line, so search for one line's part")
	ErrBadRegex = errors.New("the regular expression does not parse")
)

// Compile checks q and returns its matcher.
func Compile(q Query) (*Matcher, error) {
	switch {
	case q.Pattern == "":
		return nil, ErrEmpty
	case len(q.Pattern) > MaxPattern:
		return nil, ErrTooLong
	case !utf8.ValidString(q.Pattern):
		return nil, errors.New("the pattern is not valid UTF-8")
	case q.Mode != Regex && strings.ContainsAny(q.Pattern, "\r\n"):
		return nil, ErrNewline
	}
	m := &Matcher{}
	switch q.Mode {
	case Words, Substring:
		lit := []byte(q.Pattern)
		m.needle, m.fold = lit, q.IgnoreCase
		if q.Mode == Words {
			m.words = [2]bool{isTokenByte(lit[0]), isTokenByte(lit[len(lit)-1])}
			m.tokens = tokensOf(lit, !m.words[0], !m.words[1])
		} else {
			m.tokens = tokensOf(lit, true, true)
		}
		if q.IgnoreCase && !isASCII(lit) {
			// Unicode case folding can change a character's length: let
			// the regexp engine fold, and keep the ASCII tokens to skip on.
			expr := "(?i)" + regexp.QuoteMeta(q.Pattern)
			if m.words[0] {
				expr = `(?:^|[^A-Za-z0-9\x{80}-\x{10FFFF}])` + expr
			}
			if m.words[1] {
				expr += `(?:$|[^A-Za-z0-9\x{80}-\x{10FFFF}])`
			}
			m.re = regexp.MustCompile(expr)
			m.needle = longestASCIIToken(m.tokens)
			m.tokens = foldSafe(m.tokens)
		}
	case Regex:
		re, err := regexp.Compile(q.Pattern)
		if q.IgnoreCase && err == nil {
			re, err = regexp.Compile("(?i)" + q.Pattern)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadRegex, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		m.re = re
		lit, fold := requiredLiteral(re.String())
		m.needle, m.fold = lit, fold
		m.tokens = tokensOf(lit, true, true)
		if fold && !isFoldSafe(string(lit)) {
			m.needle = longestASCIIToken(m.tokens)
			m.tokens = foldSafe(m.tokens)
		}
	default:
		return nil, fmt.Errorf("unknown search mode %d", q.Mode)
	}
	if m.fold {
		m.needle = lowerASCII(slices.Clone(m.needle))
	}
	return m, nil
}

// Tokens are the tokens, lower case, that a line matching m holds whole:
// a block whose filter lacks one of them holds no match. None means every
// block must be scanned.
func (m *Matcher) Tokens() []string { return m.tokens }

// Literal says whether m has literal text to look for before it runs a
// regexp on a line: without it, every line goes through the regexp.
func (m *Matcher) Literal() bool { return len(m.needle) > 0 }

// Skips says whether the block filters can skip anything for m.
func (m *Matcher) Skips() bool { return len(m.tokens) > 0 }

// Match reports whether line (without its newline) matches.
func (m *Matcher) Match(line []byte) bool {
	if len(m.needle) > 0 && !m.contains(line) {
		return false
	}
	if m.re != nil {
		return m.re.Match(line)
	}
	return true
}

// contains reports whether line holds the needle, with word edges where
// m needs them.
func (m *Matcher) contains(line []byte) bool {
	hay := line
	if m.fold {
		hay = foldedCopy(line)
	}
	for from := 0; ; {
		i := bytes.Index(hay[from:], m.needle)
		if i < 0 {
			return false
		}
		i += from
		if m.re != nil || m.edgesAt(hay, i) {
			return true
		}
		from = i + 1
	}
}

// edgesAt reports whether the needle found at i of hay (the line, folded
// as the needle is) has the word edges m needs.
func (m *Matcher) edgesAt(hay []byte, i int) bool {
	end := i + len(m.needle)
	return (!m.words[0] || i == 0 || !isTokenByte(hay[i-1])) && (!m.words[1] || end == len(hay) || !isTokenByte(hay[end]))
}

// foldedCopy is line in ASCII lower case; line itself if it has no upper
// case letter.
func foldedCopy(line []byte) []byte {
	for i, c := range line {
		if 'A' <= c && c <= 'Z' {
			out := slices.Clone(line)
			lowerASCII(out[i:])
			return out
		}
	}
	return line
}

// isTokenByte: tokens are runs of ASCII letters and digits and of bytes of
// non-ASCII characters (so a UTF-8 word stays one token).
func isTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80
}

// tokensOf returns the distinct tokens of lit, lower case, in order of
// appearance; a token touching the start (end) of lit is left out unless
// first (last) says it is whole there.
func tokensOf(lit []byte, dropFirst, dropLast bool) []string {
	var out []string
	for i := 0; i < len(lit); {
		if !isTokenByte(lit[i]) {
			i++
			continue
		}
		j := i
		for j < len(lit) && isTokenByte(lit[j]) {
			j++
		}
		if !(dropFirst && i == 0) && !(dropLast && j == len(lit)) {
			t := string(lowerASCII(slices.Clone(lit[i:j])))
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		i = j
	}
	return out
}

func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// foldSafe keeps the tokens whose matches the regexp engine, folding
// case, finds in ASCII lower case too: ASCII, and without k or s, which
// fold to the Kelvin sign and the long s as well.
func foldSafe(tokens []string) []string {
	var out []string
	for _, t := range tokens {
		if isFoldSafe(t) {
			out = append(out, t)
		}
	}
	return out
}

func isFoldSafe(t string) bool { return isASCII([]byte(t)) && !strings.ContainsAny(t, "kKsS") }

// longestASCIIToken is the longest of tokens a line the regexp engine
// matches, folding case, holds in ASCII lower case.
func longestASCIIToken(tokens []string) []byte {
	var best string
	for _, t := range foldSafe(tokens) {
		if len(t) > len(best) {
			best = t
		}
	}
	return []byte(best)
}

// requiredLiteral finds a literal every match of expr contains — the
// longest one of the top-level concatenation — and whether it is matched
// without regard to case. None: nil.
func requiredLiteral(expr string) ([]byte, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	re = re.Simplify()
	var best []rune
	var fold bool
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if len(string(r.Rune)) > len(string(best)) {
				best, fold = r.Rune, r.Flags&syntax.FoldCase != 0
			}
		case syntax.OpCapture:
			walk(r.Sub[0])
		case syntax.OpConcat:
			for _, s := range r.Sub {
				walk(s)
			}
		case syntax.OpPlus, syntax.OpRepeat:
			if r.Op == syntax.OpPlus || r.Min >= 1 {
				walk(r.Sub[0])
			}
		}
	}
	walk(re)
	if best == nil {
		return nil, false
	}
	return []byte(string(best)), fold
}

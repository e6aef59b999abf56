package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Error is one problem with a config file. Its message is one sentence:
// "<file>[:<line>]: <key>: <what is wrong>; <what to write instead>".
type Error struct {
	File string // the path given to the loader, or "receiver.toml"/"lab-host.toml" for a config built in code
	Line int    // 1-based line in File, 0 when not known
	Key  string // dotted key like "limits.max_body" or "gate.releases[1].commit"; empty for the file as a whole
	Msg  string // what is wrong and what to write instead
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// problems collects the validation errors of one file.
type problems struct {
	file string
	errs []error
}

func (p *problems) add(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil, the only error, or all of them joined one per line.
func (p *problems) err() error {
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}

// describe shows a TOML value that cannot be decoded: a boolean as itself,
// anything else by its type.
func describe(v any) string {
	if b, ok := v.(bool); ok {
		return fmt.Sprint(b)
	}
	return tomlTypeName(v)
}

// tomlTypeName names the Go type BurntSushi/toml decodes a TOML value to in
// the words of a config file.
func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number with a fraction"
	case bool:
		return "a boolean (true/false)"
	case time.Time:
		return "a date/time"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

var (
	// toml: line 3 (last key "listen"): incompatible types: TOML value has type bool; destination has type string
	tomlErrRE  = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)
	badTypeRE  = regexp.MustCompile(`^incompatible types: TOML value has type (\S+); destination has type (.+)$`)
	notTableRE = regexp.MustCompile(`^type mismatch for \S+: expected table but found (\S+)$`)
)

var tomlTypeWords = map[string]string{
	"string":           "a string",
	"int64":            "an integer",
	"float64":          "a number with a fraction",
	"bool":             "a boolean",
	"time.Time":        "a date/time",
	"[]map[string]any": "an array of tables",
	"[]any":            "an array",
	"map[string]any":   "a table",
}

var wantWords = map[string]string{
	"string":  "a string in quotes",
	"integer": "a whole number",
	"boolean": "true or false",
	"float":   "a number",
	"slice":   `an array, like ["a", "b"]`,
	"map":     "a table",
}

func words(m map[string]string, k string) string {
	if w, ok := m[k]; ok {
		return w
	}
	return k
}

// decodeError turns an error of toml.Decode on data into an *Error for
// file. syntax tells whether the error came from parsing the TOML text (its
// last key is only where the parser was) or from decoding a parsed value
// into the config (its last key is the key at fault).
func decodeError(file string, data []byte, err error, syntax bool) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		if syntax {
			// The parser counts a newline it trips over as the start of
			// the next line; the byte offset is exact.
			if s := pe.Position.Start; s > 0 && s <= len(data) {
				line = 1 + bytes.Count(data[:s], []byte("\n"))
			}
			msg := "this is not valid TOML: " + pe.Message
			if pe.LastKey != "" {
				msg += fmt.Sprintf(" (after key %q)", pe.LastKey)
			}
			return &Error{File: file, Line: line, Msg: msg + "; see https://toml.io"}
		}
		return &Error{File: file, Line: line, Key: pe.LastKey, Msg: pe.Message}
	}
	m := tomlErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	e := &Error{File: file, Line: line, Key: m[2], Msg: m[3]}
	if t := badTypeRE.FindStringSubmatch(m[3]); t != nil {
		e.Msg = fmt.Sprintf("%s is the wrong type here; write %s", words(tomlTypeWords, t[1]), words(wantWords, t[2]))
	} else if t := notTableRE.FindStringSubmatch(m[3]); t != nil {
		e.Msg = fmt.Sprintf("%s is the wrong type here; write a table, [%s]", words(tomlTypeWords, t[1]), m[2])
	}
	return e
}

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/cis490/cis490/internal/human"
)

// decodeFile reads the TOML file at path into v (already holding the
// defaults) and rejects keys v has no field for. It returns the absolute
// directory of the file, against which relative paths in it are resolved.
func decodeFile(path string, v any) (dir string, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read config: %w; pass the right file with --config FILE", err)
	}
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	dir, err = filepath.Abs(filepath.Dir(path))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	// Parse alone first, so that a syntax error is told apart from a value
	// of the wrong type: only for the latter is the last key the culprit.
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return "", decodeError(path, data, err, true)
	}
	md, err := toml.Decode(string(data), v)
	if err != nil {
		return "", decodeError(path, data, err, false)
	}
	if err := unknownKeys(path, reflect.TypeOf(v), md.Undecoded()); err != nil {
		return "", err
	}
	return dir, nil
}

// unknownKeys reports every key in the file that the config has no field
// for, each with the likeliest fix.
func unknownKeys(file string, t reflect.Type, undecoded []toml.Key) error {
	if len(undecoded) == 0 {
		return nil
	}
	bad := make(map[string]bool, len(undecoded))
	for _, k := range undecoded {
		bad[k.String()] = true
	}
	var known []string
	collectKeys(t, "", &known)
	var errs []error
	for _, k := range undecoded {
		skip := false
		for i := 1; i < len(k); i++ {
			if bad[k[:i].String()] {
				skip = true // reported with its table
				break
			}
		}
		if !skip {
			errs = append(errs, &Error{File: file, Key: k.String(), Msg: "unknown key; " + unknownHint(k, known)})
		}
	}
	return errors.Join(errs...)
}

func unknownHint(k toml.Key, known []string) string {
	name := k[len(k)-1]
	parent := strings.Join(k[:len(k)-1], ".")
	var siblings, elsewhere []string
	for _, kk := range known {
		p, n := "", kk
		if i := strings.LastIndex(kk, "."); i >= 0 {
			p, n = kk[:i], kk[i+1:]
		}
		if p != parent {
			if n == name {
				elsewhere = append(elsewhere, kk)
			}
			continue
		}
		siblings = append(siblings, n)
	}
	best := human.Nearest(strings.ToLower(name), siblings)
	if best != "" && parent != "" {
		best = parent + "." + best
	}
	switch {
	case best != "":
		return fmt.Sprintf("did you mean %s?", best)
	case len(elsewhere) == 1 && !strings.Contains(elsewhere[0], "."):
		// Most often a top-level key written after a [table] header.
		return fmt.Sprintf("did you mean the top-level %s? top-level keys must come before the first [table] header", elsewhere[0])
	case len(elsewhere) == 1:
		kk := elsewhere[0]
		return fmt.Sprintf("did you mean %s? put it under [%s]", kk, kk[:strings.LastIndex(kk, ".")])
	case len(elsewhere) > 1:
		return fmt.Sprintf("did you mean one of %s? put it under its table", strings.Join(elsewhere, ", "))
	}
	sort.Strings(siblings)
	where := "the top level"
	if parent != "" {
		where = "[" + parent + "]"
	}
	if len(siblings) == 0 {
		return fmt.Sprintf("%s takes no keys; remove it", where)
	}
	return fmt.Sprintf("remove it or use one of the keys %s takes: %s", where, strings.Join(siblings, ", "))
}

// collectKeys appends the dotted TOML key of every field reachable from t,
// tables included.
func collectKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		key := prefix + name
		*out = append(*out, key)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			collectKeys(ft, key+".", out)
		}
	}
}

// resolvePath makes p absolute against dir; an empty p stays empty.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// foldASCII lowercases ASCII letters only; every other byte is kept, so a
// non-ASCII name stays invalid.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// Package human writes sizes, ages, commits and text hosts wrote the way
// the CLI, the doctor, the notifiers and the dashboard show them to people.
package human

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Bytes is n in the largest binary unit it fills: "1.5 GiB", "12 bytes".
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Ago is how long before now t was, in its largest whole unit: "5m ago";
// "never" for the zero time, "just now" for a time ahead of now.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "just now"
	}
	return Duration(d) + " ago"
}

// Duration is d in its largest whole unit: "40s", "5m", "30h", "3d" (hours
// up to two days).
func Duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// Commit is a code commit as people compare them: its first 12 hex
// digits, or "unstamped" for a build that carries none.
func Commit(c string) string {
	if c == "" {
		return "unstamped"
	}
	return c[:min(len(c), 12)]
}

// Count is n and the noun, plural when n is not 1: "1 source", "2
// warnings", "0 checks"; every count people read goes through it so the
// number and the word agree. Nouns here take a plain "s".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// A is word after its indefinite article: "an admin", "a host". By the
// first letter, which is right for the words the receiver's messages use
// ("an unknown", "a receiver"), not for every English word ("an hour").
func A(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

// Clip cuts s to at most n bytes, at the start of a rune: a rune cut in
// half would show as \xNN.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

//go:build ignore

// testreport reads `go test -json` on stdin and prints what plain `go test`
// would (each package's result line, and the output of every test that
// failed), then the tests that skipped and why. It exits 1 when a test
// failed, or when a test named with -require did not pass: CI must never
// go green by skipping (or losing) the tests that boot a real systemd,
// install the packages or drive a browser.
//
//	go test -json ./... | go run .ci/testreport.go -require TestA,TestB
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action, Package, Test, Output string
}

func main() {
	require := flag.String("require", "", "comma-separated tests that must pass (Name or Package.Name)")
	flag.Parse()

	output := map[string][]string{} // a test's output, until it ends
	result := map[string]string{}   // "pkg.Test" → pass, fail, skip
	var skips []string
	failed := false
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // a build error, as go printed it
			continue
		}
		if e.Test == "" {
			if e.Action == "output" && e.Output != "PASS\n" { // plain go test leaves it out
				fmt.Print(e.Output)
			}
			if e.Action == "fail" {
				failed = true
			}
			continue
		}
		key := e.Package + "." + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
		case "pass", "fail", "skip":
			result[key] = e.Action
			switch e.Action {
			case "fail":
				failed = true
				fmt.Print(strings.Join(output[key], ""))
			case "skip":
				skips = append(skips, key+": "+skipReason(output[key]))
			}
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Println("testreport: read go test -json:", err)
		os.Exit(1)
	}
	if len(skips) > 0 {
		sort.Strings(skips)
		fmt.Printf("skipped (%d):\n  %s\n", len(skips), strings.Join(skips, "\n  "))
	}
	for _, name := range strings.Split(*require, ",") {
		if name == "" {
			continue
		}
		var got []string
		for key, res := range result {
			if key == name || strings.HasSuffix(key, "."+name) {
				got = append(got, res)
			}
		}
		if len(got) == 0 || strings.Join(got, "") != strings.Repeat("pass", len(got)) {
			fmt.Printf("testreport: %s must pass here, but it %s\n", name, said(got))
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// skipReason is the line a skipped test said why in.
func skipReason(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(out[i]); l != "" && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "===") {
			return l
		}
	}
	return "(no reason given)"
}

func said(results []string) string {
	if len(results) == 0 {
		return "did not run"
	}
	words := map[string]string{"pass": "passed", "fail": "failed", "skip": "skipped"}
	var out []string
	for _, r := range results {
		out = append(out, words[r])
	}
	return strings.Join(out, ", ")
}

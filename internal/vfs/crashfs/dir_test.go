package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestDirectories(t *testing.T) {
	fsys := New(newRand(1))
	if err := fsys.MkdirAll("a/b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("a/b", 0o755); err != nil {
		t.Fatalf("MkdirAll on existing: %v", err)
	}
	if err := fsys.MkdirAll("/srv/db", 0o755); err != nil {
		t.Fatal(err)
	}
	create(t, fsys, "a/z", nil, false, false)
	create(t, fsys, "a/./b/../f", []byte("x"), false, false) // cleaned to a/f
	create(t, fsys, "/srv/db/log", []byte("y"), false, false)

	for dir, want := range map[string][]string{
		".":       {"a"},
		"a":       {"b", "f", "z"},
		"a/b/":    {"c"},
		"a/b/c":   {},
		"/":       {"srv"},
		"/srv/db": {"log"},
	} {
		got, err := fsys.ReadDir(dir)
		if err != nil || !slices.Equal(got, want) || got == nil {
			t.Errorf("ReadDir(%q) = %q, %v; want %q", dir, got, err, want)
		}
	}
	if _, err := fsys.ReadDir("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(missing): %v, want ErrNotExist", err)
	}
	if _, err := fsys.ReadDir("a/f"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("ReadDir(file): %v, want ENOTDIR", err)
	}
	if err := fsys.MkdirAll("a/f/g", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll through a file: %v, want ENOTDIR", err)
	}
	if err := fsys.SyncDir("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir(missing): %v, want ErrNotExist", err)
	}

	want := map[string][]byte{"a/z": {}, "a/f": []byte("x"), "/srv/db/log": []byte("y")}
	if got := fsys.Files(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("Files() = %q, want %q", got, want)
	}

	// Remove: files, empty directories; not non-empty ones or roots.
	if err := fsys.Remove("a/b"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("Remove(non-empty dir): %v, want ENOTEMPTY", err)
	}
	if err := fsys.Remove("a/b/c"); err != nil {
		t.Errorf("Remove(empty dir): %v", err)
	}
	if err := fsys.Remove("a/z"); err != nil {
		t.Errorf("Remove(file): %v", err)
	}
	if err := fsys.Remove("a/z"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(removed): %v, want ErrNotExist", err)
	}
	if err := fsys.Remove("."); err == nil {
		t.Error("Remove(.) succeeded")
	}
	if got, _ := fsys.ReadDir("a"); !slices.Equal(got, []string{"b", "f"}) {
		t.Errorf("ReadDir(a) after removes = %q", got)
	}

	// Rename errors.
	if err := fsys.Rename("a/missing", "a/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename(missing): %v, want ErrNotExist", err)
	}
	if err := fsys.Rename("a/f", "nodir/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename into missing dir: %v, want ErrNotExist", err)
	}
	if err := fsys.Rename("a/f", "a/b"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Rename onto a dir: %v, want ErrExist (as os.Rename)", err)
	}
	if err := fsys.Rename("a/b", "a/q"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Rename of a dir: %v, want ErrUnsupported", err)
	}
	var le *os.LinkError
	if err := fsys.Rename("a/missing", "a/x"); !errors.As(err, &le) {
		t.Errorf("Rename error %T, want *os.LinkError", err)
	}
	if err := fsys.Rename("a/f", "a/f"); err != nil || string(readFile(t, fsys, "a/f")) != "x" {
		t.Errorf("Rename onto itself: %v", err)
	}
}

func TestCreateWithoutSyncDirVanishes(t *testing.T) {
	for _, mode := range allModes {
		fsys := New(newRand(1))
		fsys.MkdirAll("d", 0o755)
		create(t, fsys, "d/kept", []byte("k"), true, true)
		create(t, fsys, "d/lost", []byte("l"), true, false)
		fsys.Crash(mode)
		if exists(t, fsys, "d/lost") {
			t.Errorf("%v: file created without SyncDir survived", mode)
		}
		if !exists(t, fsys, "d/kept") {
			t.Errorf("%v: file created with SyncDir was lost", mode)
		}
		if names, _ := fsys.ReadDir("d"); !slices.Equal(names, []string{"kept"}) {
			t.Errorf("%v: ReadDir = %q", mode, names)
		}
	}
	// SyncDir of another directory does not help.
	fsys := New(newRand(1))
	fsys.MkdirAll("d", 0o755)
	create(t, fsys, "d/f", []byte("x"), true, false)
	fsys.SyncDir(".")
	fsys.Crash(DropUnsynced)
	if exists(t, fsys, "d/f") {
		t.Error("SyncDir(.) made d/f durable")
	}
}

func TestRenameWithoutSyncDirReverts(t *testing.T) {
	for _, mode := range allModes {
		fsys := New(newRand(1))
		create(t, fsys, "a", []byte("A"), true, true)
		create(t, fsys, "b", []byte("B"), true, true)
		if err := fsys.Rename("a", "b"); err != nil {
			t.Fatal(err)
		}
		if exists(t, fsys, "a") || string(readFile(t, fsys, "b")) != "A" {
			t.Fatalf("%v: rename not visible before the crash", mode)
		}
		fsys.Crash(mode)
		if string(readFile(t, fsys, "a")) != "A" || string(readFile(t, fsys, "b")) != "B" {
			t.Errorf("%v: rename without SyncDir did not revert", mode)
		}

		fsys.Rename("a", "b")
		fsys.SyncDir(".")
		fsys.Crash(mode)
		if exists(t, fsys, "a") || string(readFile(t, fsys, "b")) != "A" {
			t.Errorf("%v: rename with SyncDir did not stick", mode)
		}
	}
}

func TestRemoveWithoutSyncDirReverts(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "f", []byte("F"), true, true)
	fsys.Remove("f")
	fsys.Crash(DropUnsynced)
	if string(readFile(t, fsys, "f")) != "F" {
		t.Error("remove without SyncDir did not revert")
	}
	fsys.Remove("f")
	fsys.SyncDir(".")
	fsys.Crash(DropUnsynced)
	if exists(t, fsys, "f") {
		t.Error("remove with SyncDir did not stick")
	}
}

// A directory replacing a durably named but removed file is durable, so the
// file does not come back inside it.
func TestMkdirOverRemovedFile(t *testing.T) {
	fsys := New(newRand(1))
	create(t, fsys, "x", []byte("F"), true, true)
	fsys.Remove("x")
	if err := fsys.MkdirAll("x", 0o755); err != nil {
		t.Fatal(err)
	}
	fsys.Crash(DropUnsynced)
	if names, _ := fsys.ReadDir("."); !slices.Equal(names, []string{"x"}) {
		t.Fatalf("ReadDir = %q", names)
	}
	if _, err := fsys.ReadDir("x"); err != nil {
		t.Errorf("x is not a directory after the crash: %v", err)
	}
}

// A rename across directories that only the target's SyncDir covered leaves
// the file under both names, as two independent files.
func TestCrossDirRenameHalfSynced(t *testing.T) {
	fsys := New(newRand(1))
	fsys.MkdirAll("x", 0o755)
	fsys.MkdirAll("y", 0o755)
	create(t, fsys, "x/f", []byte("F"), true, true)
	if err := fsys.Rename("x/f", "y/f"); err != nil {
		t.Fatal(err)
	}
	fsys.SyncDir("y")
	fsys.Crash(DropUnsynced)
	if string(readFile(t, fsys, "x/f")) != "F" || string(readFile(t, fsys, "y/f")) != "F" {
		t.Fatal("want the file under both names")
	}
	f, _ := fsys.OpenFile("x/f", os.O_RDWR, 0)
	f.WriteAt([]byte("G"), 0)
	f.Close()
	if string(readFile(t, fsys, "y/f")) != "F" {
		t.Error("the two names share data after the crash")
	}
}

// A model of names: every file's data is synced when created, so after a
// crash each directory must list exactly its durable names, each with the
// data of the file it durably named.
func TestDirectoryModel(t *testing.T) {
	r := newRand(seed(t))
	fsys := New(newRand(r.Uint64()))
	dirs := []string{"x", "y/z"}
	names := []string{"a", "b", "c"}
	type model struct{ cur, dur map[string]int } // name -> file id
	m := map[string]*model{}
	for _, d := range dirs {
		fsys.MkdirAll(d, 0o755)
		m[d] = &model{map[string]int{}, map[string]int{}}
	}
	content := func(id int) string { return fmt.Sprintf("file %d", id) }
	pick := func() (string, string) { return dirs[r.IntN(len(dirs))], names[r.IntN(len(names))] }
	next := 0
	check := func(step int, what string) {
		t.Helper()
		for _, d := range dirs {
			got, err := fsys.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if want := slices.Sorted(maps.Keys(m[d].cur)); !slices.Equal(got, want) {
				t.Fatalf("step %d (%s): ReadDir(%s) = %q, want %q", step, what, d, got, want)
			}
			for name, id := range m[d].cur {
				if got := string(readFile(t, fsys, filepath.Join(d, name))); got != content(id) {
					t.Fatalf("step %d (%s): %s/%s = %q, want %q", step, what, d, name, got, content(id))
				}
			}
		}
	}
	for step := range 2000 {
		var what string
		switch op := r.IntN(10); {
		case op < 3:
			d, n := pick()
			what = "create " + d + "/" + n
			next++
			// A fresh file: O_TRUNC on an existing name would rewrite the
			// file that other (durable) names may still refer to.
			fsys.Remove(filepath.Join(d, n))
			create(t, fsys, filepath.Join(d, n), []byte(content(next)), true, false)
			m[d].cur[n] = next
		case op < 5:
			od, on := pick()
			nd, nn := pick()
			what = "rename " + od + "/" + on + " " + nd + "/" + nn
			err := fsys.Rename(filepath.Join(od, on), filepath.Join(nd, nn))
			id, ok := m[od].cur[on]
			if ok != (err == nil) {
				t.Fatalf("step %d: %s: %v", step, what, err)
			}
			if ok {
				delete(m[od].cur, on)
				m[nd].cur[nn] = id
			}
		case op < 6:
			d, n := pick()
			what = "remove " + d + "/" + n
			err := fsys.Remove(filepath.Join(d, n))
			if _, ok := m[d].cur[n]; ok != (err == nil) {
				t.Fatalf("step %d: %s: %v", step, what, err)
			}
			delete(m[d].cur, n)
		case op < 8:
			d := dirs[r.IntN(len(dirs))]
			what = "syncdir " + d
			if err := fsys.SyncDir(d); err != nil {
				t.Fatal(err)
			}
			m[d].dur = maps.Clone(m[d].cur)
		case op < 9:
			mode := RandomMode(r)
			what = "crash " + mode.String()
			fsys.Crash(mode)
			for _, d := range dirs {
				m[d].cur = maps.Clone(m[d].dur)
			}
		default:
			what = "check"
		}
		check(step, what)
	}
}

package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgUser is the superuser of every cluster; trust authentication, so no
// password.
const pgUser = "cis490"

// pgBin returns the newest /usr/lib/postgresql/*/bin that has a server,
// or "": Debian keeps them off PATH.
func pgBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[0])
}

func pgVersion(postgres string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(postgres))), 64)
	return v
}

// PostgreSQL is Debian's PostgreSQL server, which Postgres and NewPostgres
// run.
func PostgreSQL() Need {
	return Need{what: "postgres", how: "apt-get install postgresql", have: func() bool { return pgBin() != "" }}
}

// PG is a PostgreSQL cluster of the test's own, in a temporary folder,
// listening on a loopback port, with fsync and synchronous_commit on.
type PG struct {
	t    testing.TB // the test that owns it; nil for the shared one
	bin  string
	dir  string // the socket folder; data/ and postgres.log inside
	port int
	p    *proc // nil while stopped
}

// Postgres returns the DSN of a fresh, empty database on a cluster the
// test binary shares, started on first use (StopShared stops it).
func Postgres(t testing.TB) string {
	t.Helper()
	Require(t, PostgreSQL())
	shared.mu.Lock()
	if shared.pg == nil && shared.pgErr == nil {
		shared.pg, shared.pgErr = newCluster()
		if shared.pgErr == nil {
			if shared.pgErr = shared.pg.start(); shared.pgErr != nil {
				shared.pg.destroy()
				shared.pg = nil
			}
		}
	}
	pg, err := shared.pg, shared.pgErr
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("shared PostgreSQL: %v", err)
	}
	dsn, err := pg.createDB(nextName("t", t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// NewPostgres starts a cluster of the test's own, which it may stop, kill
// and start again; the test's cleanup removes it.
func NewPostgres(t testing.TB) *PG {
	t.Helper()
	Require(t, PostgreSQL())
	pg, err := newCluster()
	if err != nil {
		t.Fatal(err)
	}
	pg.t = t
	t.Cleanup(pg.destroy)
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	return pg
}

// DSN is the address of database db on the cluster ("postgres" always
// exists).
func (pg *PG) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, pg.port, db)
}

// NewDB creates a fresh, empty database and returns its DSN.
func (pg *PG) NewDB() string {
	pg.t.Helper()
	dsn, err := pg.createDB(nextName("t", pg.t.Name()))
	if err != nil {
		pg.t.Fatal(err)
	}
	return dsn
}

// Kill is kill -9 of the server and all its processes, as in a crash:
// Start recovers from the WAL what was committed.
func (pg *PG) Kill() {
	if pg.p != nil {
		pg.p.kill()
		waitGroupGone(pg.p.cmd.Process.Pid)
		pg.p = nil
	}
}

// Stop shuts the server down cleanly (fast shutdown).
func (pg *PG) Stop() {
	if pg.p != nil {
		pg.p.stop(syscall.SIGINT, 30*time.Second)
		pg.p = nil
	}
}

// Start starts the server again on the same port and waits until it
// accepts connections (after crash recovery if it was killed).
func (pg *PG) Start() {
	pg.t.Helper()
	if pg.p != nil {
		pg.t.Fatal("PostgreSQL already running")
	}
	if err := pg.start(); err != nil {
		pg.t.Fatal(err)
	}
}

// newCluster runs initdb in a new temporary folder. As root the folder is
// given to nobody, as initdb and postgres refuse to run as root; it is
// not t.TempDir, whose parent nobody cannot enter.
func newCluster() (*PG, error) {
	bin := pgBin()
	if bin == "" {
		return nil, errors.New("no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "cis490-pg-")
	if err != nil {
		return nil, err
	}
	pg := &PG{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// --no-sync only spares initdb's own fsyncs; the server runs with
	// fsync on.
	cmd := pg.command("initdb", "-D", pg.data(), "-A", "trust", "-U", pgUser,
		"--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return pg, nil
}

func (pg *PG) data() string { return filepath.Join(pg.dir, "data") }
func (pg *PG) log() string  { return filepath.Join(pg.dir, "postgres.log") }

// command runs a PostgreSQL program, as nobody when the test is root.
func (pg *PG) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.dir
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	}
	return cmd
}

// start runs postgres itself rather than pg_ctl start, which would leave
// it orphaned: as the test's child it is reaped after a kill and dies
// with the test binary. The first start retries on another port if the
// chosen one was taken meanwhile.
func (pg *PG) start() error {
	first := pg.port == 0
	for try := 0; ; try++ {
		if first {
			port, err := freePort()
			if err != nil {
				return err
			}
			pg.port = port
		}
		cmd := pg.command("postgres", "-D", pg.data(), "-p", strconv.Itoa(pg.port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+pg.dir,
			"-c", "fsync=on", "-c", "synchronous_commit=on")
		p, err := startProc(cmd, pg.log())
		if err != nil {
			return err
		}
		err = waitReady(p, time.Minute, func() bool { return pg.ready(p.cmd.Process.Pid) })
		if err == nil {
			pg.p = p
			return nil
		}
		p.kill()
		log := tail(pg.log())
		if first && try < 5 && strings.Contains(log, "could not bind") {
			continue
		}
		return fmt.Errorf("postgres on port %d: %v\n%s", pg.port, err, log)
	}
}

// ready reads the status line pg_ctl start -w waits for in
// postmaster.pid; a killed server's stale file names another pid.
func (pg *PG) ready(pid int) bool {
	b, err := os.ReadFile(filepath.Join(pg.data(), "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready" &&
		strings.TrimSpace(lines[0]) == strconv.Itoa(pid)
}

// createDB creates database name with psql, which keeps a driver out of
// this package's dependencies.
func (pg *PG) createDB(name string) (string, error) {
	cmd := exec.Command(filepath.Join(pg.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-d", pg.DSN("postgres"), "-c", `CREATE DATABASE "`+name+`"`)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CREATE DATABASE %s: %w\n%s", name, err, out)
	}
	return pg.DSN(name), nil
}

// destroy stops the server as pg_ctl stop -m immediate does (SIGQUIT),
// kills what is left and removes the folder.
func (pg *PG) destroy() {
	if pg.p != nil {
		pg.p.stop(syscall.SIGQUIT, 10*time.Second)
		pg.p = nil
	}
	os.RemoveAll(pg.dir)
}

// waitGroupGone waits up to 5 s until no live process is left in process
// group pgid: a restart while a killed backend still holds the shared
// memory would be refused. Zombies do not count, as the init may never
// reap them.
func waitGroupGone(pgid int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !groupAlive(pgid) {
			return
		}
	}
}

func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

package localsrv

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
	"time"
)

// PGUser is the superuser of every cluster; trust authentication, so no
// password.
const PGUser = "cis490"

// PGBin returns the newest /usr/lib/postgresql/*/bin that has a server,
// or "": Debian keeps them off PATH.
func PGBin() string {
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

// PG is a PostgreSQL cluster in a folder of its own, listening on a
// loopback port, with fsync and synchronous_commit on.
type PG struct {
	bin  string
	dir  string // the socket folder; data/ and postgres.log inside
	port int
	p    *proc // nil while stopped
}

// NewPG runs initdb in a new folder under parent ("" for os.TempDir()).
// As root the folder is given to nobody, as initdb and postgres refuse to
// run as root: nobody must be able to enter parent and its ancestors.
func NewPG(parent string) (*PG, error) {
	bin := PGBin()
	if bin == "" {
		return nil, errors.New("no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp(parent, "cis490-pg-")
	if err != nil {
		return nil, err
	}
	pg := &PG{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, Nobody, Nobody); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// --no-sync only spares initdb's own fsyncs; the server runs with
	// fsync on.
	cmd := pg.command("initdb", "-D", pg.data(), "-A", "trust", "-U", PGUser,
		"--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return pg, nil
}

// DSN is the address of database db on the cluster ("postgres" always
// exists).
func (pg *PG) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", PGUser, pg.port, db)
}

// PID is the postmaster's process id (every backend is its child), 0
// while stopped.
func (pg *PG) PID() int {
	if pg.p == nil {
		return 0
	}
	return pg.p.cmd.Process.Pid
}

func (pg *PG) data() string { return filepath.Join(pg.dir, "data") }

// Log is the server's log file.
func (pg *PG) Log() string { return filepath.Join(pg.dir, "postgres.log") }

// command runs a PostgreSQL program, as nobody when the caller is root.
func (pg *PG) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.dir
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}}
	}
	return cmd
}

// Start runs postgres itself rather than pg_ctl start, which would leave
// it orphaned: as the caller's child it is reaped after a kill and dies
// with the caller. It waits until the server accepts connections (after
// crash recovery if it was killed). The first start retries on another
// port if the chosen one was taken meanwhile; later ones keep the port.
func (pg *PG) Start() error {
	if pg.p != nil {
		return errors.New("PostgreSQL already running")
	}
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
		p, err := startProc(cmd, pg.Log())
		if err != nil {
			return err
		}
		err = waitReady(p, time.Minute, func() bool { return pg.ready(p.cmd.Process.Pid) })
		if err == nil {
			pg.p = p
			return nil
		}
		p.kill()
		log := tail(pg.Log())
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

// CreateDB creates database name with psql, which keeps a driver out of
// this package's dependencies, and returns its DSN.
func (pg *PG) CreateDB(name string) (string, error) {
	cmd := exec.Command(filepath.Join(pg.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-d", pg.DSN("postgres"), "-c", `CREATE DATABASE "`+name+`"`)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CREATE DATABASE %s: %w\n%s", name, err, out)
	}
	return pg.DSN(name), nil
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

// Destroy stops the server as pg_ctl stop -m immediate does (SIGQUIT),
// kills what is left and removes the folder.
func (pg *PG) Destroy() {
	if pg.p != nil {
		pg.p.stop(syscall.SIGQUIT, 10*time.Second)
		pg.p = nil
	}
	os.RemoveAll(pg.dir)
}

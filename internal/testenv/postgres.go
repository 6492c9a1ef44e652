package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBinDirs are where Debian's postgresql packages put the server binaries.
var pgBinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}

// Postgres is a PostgreSQL server owned by one test.
type Postgres struct {
	// URL connects as the superuser "postgres" to database "postgres" (trust auth, loopback only).
	URL  string
	Port int
	*process
}

// StartPostgres initialises a cluster in a temporary directory and starts it on a free port.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb := lookBinary(t, "initdb", pgBinDirs...)
	postgres := lookBinary(t, "postgres", filepath.Dir(initdb))

	var cred *syscall.Credential
	root := filepath.Join(openDir(t), "pg")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatalf("create postgres data dir: %v", err)
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as the postgres user the package creates.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("look up the postgres user: %v: %s", err, installHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatalf("chown postgres data dir: %v", err)
		}
	}
	data := filepath.Join(root, "data")
	initCmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	initCmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	port := FreePort(t)
	pg := &Postgres{
		URL:  fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Port: port,
		process: &process{
			t: t, name: "postgres", cred: cred, port: port, logPath: filepath.Join(root, "postgres.log"),
			argv: []string{postgres, "-D", data, "-p", itoa(port), "-h", "127.0.0.1",
				"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=50"},
			stopSignal:   syscall.SIGINT, // fast shutdown: open connections are terminated
			readyTimeout: 30 * time.Second,
		},
	}
	pg.process.ping = pg.ping // ready once it answers SELECT 1
	t.Cleanup(func() { pg.Stop(t) })
	pg.Start(t)
	return pg
}

func (p *Postgres) ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("select 1: %w", err)
	}
	return nil
}

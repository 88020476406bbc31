// Package testpg gives tests a throwaway PostgreSQL server and a fresh,
// empty database per test.
//
// The server is started from the local PostgreSQL binaries (initdb and
// postgres, found on PATH or under /usr/lib/postgresql/*/bin) into a temp
// directory, listening on a free 127.0.0.1 port only (no Unix socket), with
// trust authentication and fsync off: it holds test data only. PostgreSQL
// refuses to run as root, so when the test runs as root the server runs as
// the "postgres" OS user (created with useradd if it does not exist).
//
// When DATABASE_URL is set, that server is used instead: each test gets a
// database created on it (the URL's user needs CREATEDB) and dropped after.
//
// Missing binaries fail the test with the install instruction; the test is
// never skipped.
package testpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint is what a test says when the server binaries are missing.
const InstallHint = "install postgresql (apt-get install postgresql)"

const (
	readyTimeout = 60 * time.Second // a loaded, shared machine: be generous
	stopTimeout  = 30 * time.Second
)

// Cluster is a PostgreSQL server tests create databases on.
type Cluster struct {
	// AdminDSN connects to the maintenance database as a superuser (or, with
	// DATABASE_URL, as that URL's user).
	AdminDSN string

	dir  string // temp dir holding the data directory; "" for DATABASE_URL
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster exited
	log  *syncBuffer

	stopOnce sync.Once
	stopErr  error
}

var (
	sharedMu      sync.Mutex
	sharedCluster *Cluster
	sharedErr     error
	mainActive    atomic.Bool
	dbSeq         atomic.Int64
)

// Main runs the tests and then stops the shared cluster, if a test started
// one. Packages that use DB call it from TestMain: os.Exit(testpg.Main(m)).
func Main(m *testing.M) int {
	mainActive.Store(true)
	code := m.Run()
	sharedMu.Lock()
	c := sharedCluster
	sharedMu.Unlock()
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testpg: stop cluster: %v\n", err)
		}
	}
	return code
}

// DB returns the DSN of a new empty database on the test binary's shared
// cluster (started on first use, stopped by Main). The database is dropped
// when t ends, after t's other cleanups (close pools opened on it in
// t.Cleanup).
func DB(t testing.TB) string {
	t.Helper()
	if !mainActive.Load() {
		t.Fatal("testpg.DB needs TestMain to call testpg.Main (or use testpg.Start for a cluster of the test's own)")
	}
	sharedMu.Lock()
	if sharedCluster == nil && sharedErr == nil {
		sharedCluster, sharedErr = start()
	}
	c, err := sharedCluster, sharedErr
	sharedMu.Unlock()
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	return c.DB(t)
}

// Start starts a cluster for t alone (or uses DATABASE_URL's server) and
// stops it when t ends. For packages without a testpg.Main TestMain.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("testpg: stop cluster: %v", err)
		}
	})
	return c
}

// DB creates a new empty database on c and returns its DSN; it is dropped
// when t ends.
func (c *Cluster) DB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("sbtest_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := c.admin(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("testpg: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		// FORCE: a pool a test forgot to close must not fail the next test.
		if err := c.admin(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("testpg: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(c.AdminDSN, name)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	return dsn
}

// Log returns what the server printed so far (for failure messages).
func (c *Cluster) Log() string {
	if c.log == nil {
		return ""
	}
	return c.log.String()
}

func (c *Cluster) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.AdminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down (fast shutdown, then SIGKILL) and removes its
// directory. Safe to call more than once; a no-op for DATABASE_URL.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.cmd == nil {
			return
		}
		// SIGINT is the postmaster's "fast" shutdown: roll back open
		// transactions and stop, without waiting for clients.
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = fmt.Errorf("postgres did not stop within %s of SIGINT; killed", stopTimeout)
		}
		if err := os.RemoveAll(c.dir); err != nil && c.stopErr == nil {
			c.stopErr = err
		}
	})
	return c.stopErr
}

func start() (*Cluster, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		c := &Cluster{AdminDSN: u}
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		if err := c.admin(ctx, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("DATABASE_URL is set but its server does not answer: %w", err)
		}
		return c, nil
	}
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "switchboard-testpg-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(bins.initdb, "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(initdb.Args, " "), err, out)
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		c, err := startServer(bins.postgres, dir, data, cred)
		if err == nil {
			ok = true
			return c, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

// startServer runs the postmaster itself as a child, not through pg_ctl:
// with Pdeathsig it dies with the test binary (a panic, a -timeout), so no
// server outlives its test run on a shared machine.
func startServer(postgres, dir, data string, cred *syscall.Credential) (*Cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=300",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "log_min_messages=warning",
	)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	// SIGQUIT is the postmaster's immediate shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", postgres, err)
	}
	c := &Cluster{
		AdminDSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		dir:      dir, cmd: cmd, done: make(chan struct{}), log: log,
	}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.admin(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case <-c.done:
			out := log.String()
			if strings.Contains(out, "could not bind") || strings.Contains(out, "Address already in use") {
				return nil, fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return nil, fmt.Errorf("postgres exited before it was ready:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-c.done
			return nil, fmt.Errorf("postgres not ready on port %d within %s (last: %v):\n%s", port, readyTimeout, err, log.String())
		}
	}
}

type binaries struct{ initdb, postgres string }

// findBinaries looks on PATH first, then in the newest Debian/Ubuntu
// versioned directory.
func findBinaries() (binaries, error) {
	var b binaries
	if i, err := exec.LookPath("initdb"); err == nil {
		if p, err := exec.LookPath("postgres"); err == nil {
			return binaries{i, p}, nil
		}
		// pg_ctl's neighbour is the server of the same version.
		if p := filepath.Join(filepath.Dir(i), "postgres"); isExec(p) {
			return binaries{i, p}, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExec(i) && isExec(p) {
			return binaries{i, p}, nil
		}
	}
	return b, fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: %s, or set DATABASE_URL to a server to use", InstallHint)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// runAs returns the credentials to run the server with: nil when not root,
// else the postgres OS user's (created if missing).
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		out, uerr := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/var/lib/postgresql", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
		if uerr != nil {
			return nil, fmt.Errorf("running as root and there is no postgres OS user to run the server as; useradd failed: %v: %s", uerr, out)
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("look up the postgres OS user: %w", err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres OS user ids: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// withDatabase returns dsn with its database replaced by name; dsn is a URL
// or a keyword/value string.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

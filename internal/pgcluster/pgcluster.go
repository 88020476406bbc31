// Package pgcluster starts a throwaway PostgreSQL server from the local
// binaries (initdb and postgres, found on PATH or under
// /usr/lib/postgresql/*/bin) in a temp directory, listening on a free
// 127.0.0.1 port only (no Unix socket), with trust authentication. By
// default it runs with fsync, synchronous_commit and full_page_writes off:
// it holds throwaway data. Options.Durable turns them on (benchmarks that
// compare with a durable store).
//
// PostgreSQL refuses to run as root, so when the caller runs as root the
// server runs as the "postgres" OS user (created with useradd if it does
// not exist). The postmaster is a child of the caller and dies with it.
//
// internal/testpg builds the test helpers on it; bench/ingest uses it
// directly.
package pgcluster

import (
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
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/internal/syncbuf"
)

// InstallHint is what to say when the server binaries are missing.
const InstallHint = "install postgresql (apt-get install postgresql)"

const (
	readyTimeout = 60 * time.Second // a loaded, shared machine: be generous
	stopTimeout  = 30 * time.Second
)

// Options configures Start.
type Options struct {
	// Durable runs the server with fsync, synchronous_commit and
	// full_page_writes on (PostgreSQL's defaults); off by default.
	Durable bool
	// Settings are extra "name=value" server settings (-c).
	Settings []string
}

// Cluster is a running PostgreSQL server.
type Cluster struct {
	// AdminDSN connects to the maintenance database as a superuser (or, for
	// Use, as the given URL's user).
	AdminDSN string

	dir  string // temp dir holding the data directory; "" for Use
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster exited
	log  *syncBuffer

	// What Restart needs to start the same server again.
	postgres string
	data     string
	port     int
	cred     *syscall.Credential
	opts     Options

	stopOnce sync.Once
	stopErr  error
}

// CreateDatabase creates an empty database name on c and returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	if err := c.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return WithDatabase(c.AdminDSN, name)
}

// DropDatabase drops database name, closing the connections still on it.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// Log returns what the server printed so far (for failure messages).
func (c *Cluster) Log() string {
	if c.log == nil {
		return ""
	}
	return c.log.String()
}

// Exec runs sql on the maintenance database as the admin user.
func (c *Cluster) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.AdminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down (fast shutdown, then SIGKILL) and removes its
// directory. Safe to call more than once; a no-op for Use.
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

// ErrNotOwned: Restart of a server this package did not start (Use).
var ErrNotOwned = errors.New("the server was not started by pgcluster")

// Restart does what `pg_ctl restart -m fast` does to the server: a fast
// shutdown (SIGINT: open transactions are rolled back and every client
// connection is closed), then a start on the same data directory and
// port. down is how long the server stays down between the two (zero: as
// pg_ctl, at once). It returns when the server accepts connections again.
func (c *Cluster) Restart(down time.Duration) error {
	if c.cmd == nil {
		return ErrNotOwned
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("postgres did not stop within %s of SIGINT; killed", stopTimeout)
	}
	time.Sleep(down)
	return c.launch()
}

// Use returns a Cluster for an existing server the admin URL reaches
// (whose user needs CREATEDB for CreateDatabase); Stop leaves it running.
func Use(adminURL string) (*Cluster, error) {
	c := &Cluster{AdminDSN: adminURL}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := c.Exec(ctx, "SELECT 1"); err != nil {
		return nil, fmt.Errorf("server at the given URL does not answer: %w", err)
	}
	return c, nil
}

// Start initialises a data directory in a new temp dir and starts a
// postmaster on it, listening on a free 127.0.0.1 port only.
func Start(o Options) (*Cluster, error) {
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
		c, err := startServer(bins.postgres, dir, data, cred, o)
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
func startServer(postgres, dir, data string, cred *syscall.Credential, o Options) (*Cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		AdminDSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		dir:      dir, log: &syncBuffer{},
		postgres: postgres, data: data, port: port, cred: cred, opts: o,
	}
	if err := c.launch(); err != nil {
		return nil, err
	}
	return c, nil
}

// launch runs the postmaster as configured in c and waits until it
// accepts connections.
func (c *Cluster) launch() error {
	postgres, dir, data, port, cred, o, log := c.postgres, c.dir, c.data, c.port, c.cred, c.opts, c.log
	durability := "off"
	if o.Durable {
		durability = "on"
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=300",
		"-c", "fsync=" + durability,
		"-c", "synchronous_commit=" + durability,
		"-c", "full_page_writes=" + durability,
		"-c", "log_min_messages=warning",
	}
	for _, s := range o.Settings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(postgres, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	// SIGQUIT is the postmaster's immediate shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	logStart := len(log.String())
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", postgres, err)
	}
	done := make(chan struct{})
	c.cmd, c.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			out := log.String()[logStart:]
			if strings.Contains(out, "could not bind") || strings.Contains(out, "Address already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return fmt.Errorf("postgres exited before it was ready:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("postgres not ready on port %d within %s (last: %v):\n%s", port, readyTimeout, err, log.String())
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
	return b, fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: %s", InstallHint)
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

// WithDatabase returns dsn with its database replaced by name; dsn is a URL
// or a keyword/value string.
func WithDatabase(dsn, name string) (string, error) {
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

type syncBuffer = syncbuf.Buffer

// Package testpg gives tests a throwaway PostgreSQL server and a fresh,
// empty database per test.
//
// The server is an internal/pgcluster cluster: started from the local
// PostgreSQL binaries into a temp directory, listening on a free 127.0.0.1
// port only (no Unix socket), with trust authentication and fsync off: it
// holds test data only. PostgreSQL refuses to run as root, so when the test
// runs as root the server runs as the "postgres" OS user (created with
// useradd if it does not exist).
//
// When DATABASE_URL is set, that server is used instead: each test gets a
// database created on it (the URL's user needs CREATEDB) and dropped after.
//
// Missing binaries fail the test with the install instruction; the test is
// never skipped.
package testpg

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/internal/pgcluster"
)

// InstallHint is what a test says when the server binaries are missing.
const InstallHint = pgcluster.InstallHint

const readyTimeout = 60 * time.Second // a loaded, shared machine: be generous

// Cluster is a PostgreSQL server tests create databases on.
type Cluster struct {
	*pgcluster.Cluster
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
	dsn, err := c.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		// FORCE: a pool a test forgot to close must not fail the next test.
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Errorf("testpg: %v", err)
		}
	})
	return dsn
}

func start() (*Cluster, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		c, err := pgcluster.Use(u)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL is set but its server does not answer: %w", err)
		}
		return &Cluster{c}, nil
	}
	c, err := pgcluster.Start(pgcluster.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w, or set DATABASE_URL to a server to use", err)
	}
	return &Cluster{c}, nil
}

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the switchboard binary every test runs, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if b := os.Getenv("SWITCHBOARD_E2E_BINARY"); b != "" {
		// A test re-executed in a child process (see sqliteFullDisk)
		// reuses its parent's build.
		binary = b
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "switchboard-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: create temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "switchboard")
	// The go on PATH, from the module root; the binary is never race-built
	// (only the test process is, under -race).
	build := exec.Command("go", "build", "-o", binary, "./cmd/switchboard")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build switchboard: %v\n", err)
		return 1
	}
	return m.Run()
}

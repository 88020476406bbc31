// Package testpeers starts the independently written protocol peers that
// integration tests talk to (Prism serving Twilio's OpenAPI spec, maildev,
// telegram-test-api) on free 127.0.0.1 ports, and stops them when the test
// binary ends.
//
// The peers are npm packages pinned in tools/peers; `make peers` (run by
// `make test`) installs them. A test that needs a peer that is not installed
// fails with that instruction: it is never skipped.
package testpeers

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Peer is one running peer process.
type Peer struct {
	Name string
	Port int // the main port (HTTP API, or SMTP for maildev)

	cmd *exec.Cmd
	log *syncWriter
}

// Log returns what the peer printed so far (for failure messages).
func (p *Peer) Log() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return p.log.w.String()
}

var (
	mu      sync.Mutex
	running []*Peer
	shared  = map[string]*sharedPeer{}
)

type sharedPeer struct {
	once sync.Once
	peer *Peer
	err  error
}

// Main runs the tests and then stops every peer they started. Packages that
// use peers call it from TestMain: os.Exit(testpeers.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	StopAll()
	return code
}

// StopAll stops every running peer.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, p := range running {
		p.stop()
	}
	running = nil
}

// Root returns the module root (the directory holding go.mod).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func peersDir() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "tools", "peers")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		return "", fmt.Errorf("test peers are not installed in %s: run `make peers` (npm ci), which `make test` does first", dir)
	}
	return dir, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs a peer and waits until ready() says it answers.
func start(name string, args []string, port int, ready func() error) (*Peer, error) {
	dir, err := peersDir()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_ENV=production", "NO_UPDATE_NOTIFIER=1")
	log := &syncWriter{w: &bytes.Buffer{}}
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Peer{Name: name, Port: port, cmd: cmd, log: log}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := ready(); err == nil {
			break
		} else if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not become ready on port %d within 60s: %v\n%s", name, port, err, p.Log())
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", name, err, p.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
	mu.Lock()
	running = append(running, p)
	mu.Unlock()
	return p, nil
}

func (p *Peer) stop() {
	if p.cmd.Process == nil {
		return
	}
	// The whole process group: npm binaries may fork.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			if syscall.Kill(-p.cmd.Process.Pid, 0) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	<-done
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// once starts a peer shared by every test in the binary.
func once(key string, f func() (*Peer, error)) (*Peer, error) {
	mu.Lock()
	s, ok := shared[key]
	if !ok {
		s = &sharedPeer{}
		shared[key] = s
	}
	mu.Unlock()
	s.once.Do(func() { s.peer, s.err = f() })
	return s.peer, s.err
}

func httpReady(url string) func() error {
	c := &http.Client{Timeout: time.Second}
	return func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

func tcpReady(port int) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

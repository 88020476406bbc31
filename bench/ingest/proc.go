package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// server is a target running as a child process.
type server struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

// startServer starts bin with args in its own process group; its stdout and
// stderr go to logPath.
func startServer(name, bin string, args, env []string, logPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	return s, nil
}

// stop asks the server to shut down (SIGTERM to its process group) and
// kills the group if it has not exited within grace. Safe to call twice.
func (s *server) stop(grace time.Duration) error {
	pgid := -s.cmd.Process.Pid
	select {
	case <-s.exited:
		// The leader is gone; make sure nothing it started lingers.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		return nil
	default:
	}
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-s.exited
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", s.name, grace)
	}
}

// cpu is the CPU time (user + system) the server used over its life; zero
// until it has exited.
func (s *server) cpu() time.Duration {
	select {
	case <-s.exited:
	default:
		return 0
	}
	if ps := s.cmd.ProcessState; ps != nil {
		return ps.UserTime() + ps.SystemTime()
	}
	return 0
}

// logTail is the end of the server's log, for error messages.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls url until it answers 200, the server exits or timeout.
func (s *server) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", s.name, s.waitErr, s.logTail(20))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready at %s after %s; its log ends:\n%s", s.name, url, timeout, s.logTail(20))
			}
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr picks a free loopback port. Another process could take it
// before the server binds it; on loopback in a bench that is rare enough.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

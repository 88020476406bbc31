package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/syncbuf"
)

type lockedLog = syncbuf.Buffer

// serveProc is `switchboard serve` run in its own directory.
type serveProc struct {
	cmd  *exec.Cmd
	log  *lockedLog
	done chan struct{}
	err  error
}

// startServe runs the binary's serve with args in dir, with no SB_*
// variables in its environment (so the example's ${SB_*_KEY:-...}
// defaults apply). It is stopped at the end of the test.
func startServe(t *testing.T, dir string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: exec.Command(binary, append([]string{"serve"}, args...)...), log: &lockedLog{}, done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SB_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = procAttr()
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopTimeout):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", p.log)
		}
	})
	return p
}

// waitLog waits until the log matches re (returning the match) or the
// process exits (returning nil).
func (p *serveProc) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		if m := re.FindStringSubmatch(p.log.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			return re.FindStringSubmatch(p.log.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve neither logged %s nor exited:\n%s", re, p.log)
		time.Sleep(pollEvery)
	}
}

// exited waits for the process to end and returns its exit code.
func (p *serveProc) exited(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(readyTimeout):
		t.Fatalf("serve did not exit:\n%s", p.log)
	}
	if p.err == nil {
		return 0
	}
	ee, ok := p.err.(*exec.ExitError)
	require.True(t, ok, "%v", p.err)
	return ee.ExitCode()
}

// With no --config, serve runs the embedded example config, whose API keys
// are published: it binds 127.0.0.1 only, says which keys came from their
// ${VAR:-default}, and creates its SQLite store private to its user.
func TestServeWithoutConfigIsLoopbackOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startServe(t, dir)
	m := p.waitLog(t, regexp.MustCompile(`msg="switchboard serving" addr=(\S+)|listen on (\S+): .*address already in use`))
	require.NotNil(t, m, "serve exited:\n%s", p.log)
	if m[2] != "" {
		// Something else holds port 8080: the address serve tried still
		// shows it binds loopback only.
		require.Equal(t, "127.0.0.1:8080", m[2])
		require.Equal(t, 1, p.exited(t))
		return
	}
	require.Equal(t, "127.0.0.1:8080", m[1], "the bound address")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:8080/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	out := p.log.String()
	for _, kv := range [][2]string{{"shop", "SB_SEND_KEY"}, {"support", "SB_READ_KEY"}, {"ops", "SB_ADMIN_KEY"}} {
		require.Contains(t, out, `level=WARN msg="an API key comes from its ${VAR:-default} default: the environment variable is unset or empty" key=`+kv[0]+" var="+kv[1])
	}
	require.NotContains(t, out, "0123456789", "no key value in the log")

	for name, want := range map[string]os.FileMode{"data": 0o700, "data/switchboard.db": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, want, fi.Mode().Perm(), name)
	}
}

// The published dev keys on an address other machines reach: serve refuses
// to start, naming each key and the variable that would set it; --dev
// starts anyway with a WARN. The test talks to 127.0.0.1 only.
func TestServeRefusesPublishedKeysOffLoopback(t *testing.T) {
	t.Parallel()
	addr := strings.Replace(freeAddr(t), "127.0.0.1", "0.0.0.0", 1)
	p := startServe(t, t.TempDir(), "--listen", addr)
	require.Equal(t, 1, p.exited(t))
	out := p.log.String()
	for _, kv := range [][2]string{{"shop", "SB_SEND_KEY"}, {"support", "SB_READ_KEY"}, {"ops", "SB_ADMIN_KEY"}} {
		require.Contains(t, out, `API key "`+kv[0]+`" is a published development key`)
		require.Contains(t, out, "The ${"+kv[1]+":-...} default supplied it because "+kv[1]+" is unset or empty: set "+kv[1]+" to a random value (openssl rand -hex 32)")
	}
	require.Contains(t, out, "the gateway listens on \""+addr+"\"")
	require.NotContains(t, out, "switchboard serving")

	// --dev: it starts anyway, and says so.
	dev := startServe(t, t.TempDir(), "--listen", addr, "--dev")
	m := dev.waitLog(t, regexp.MustCompile(`msg="switchboard serving" addr=(\S+)`))
	require.NotNil(t, m, "serve --dev exited:\n%s", dev.log)
	port := addr[strings.LastIndexByte(addr, ':'):]
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1" + port + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, dev.log.String(), `level=WARN msg="--dev: serving a published development API key on an address other machines can reach`)
}

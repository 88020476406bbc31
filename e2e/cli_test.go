package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

type cliResult struct {
	Code           int
	Stdout, Stderr string
}

// cli runs the binary with args and extra environment variables.
func cli(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("switchboard %v did not finish within 30s", args)
	}
	res := cliResult{Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("run switchboard %v: %v", args, err)
	}
	return res
}

func testCLI(t *testing.T, g *gateway) {
	t.Run("config validate ok", func(t *testing.T) {
		path := filepath.Join("testdata", "valid.yaml")
		r := cli(t, nil, "config", "validate", path)
		require.Equal(t, 0, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		require.Len(t, lines, 1, "one line: %q", r.Stdout)
		assert.Contains(t, lines[0], "ok")
		assert.Contains(t, lines[0], path)
	})

	t.Run("config validate rendered", func(t *testing.T) {
		r := cli(t, nil, "config", "validate", g.cfgPath)
		require.Equal(t, 0, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stdout, "ok")
	})

	t.Run("config validate bad", func(t *testing.T) {
		r := cli(t, nil, "config", "validate", filepath.Join("testdata", "invalid.yaml"))
		require.NotEqual(t, 0, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		out := r.Stdout + r.Stderr
		// testdata/invalid.yaml line 9 has the typo "retires:".
		assert.Contains(t, out, "invalid.yaml:9", "names file:line")
		assert.Contains(t, out, "retires", "names the key")
		assert.Contains(t, out, "channels.whatsapp", "names the key's path")
	})

	t.Run("send and status", func(t *testing.T) {
		env := []string{"SWITCHBOARD_URL=" + g.URL, "SWITCHBOARD_API_KEY=" + sendKey}
		r := cli(t, env, "send", "--whatsapp", "+15551237777", "--phone", "+15551237777",
			"--body", "Your code is 777777", "--tags", "otp")
		require.Equal(t, 0, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		match := regexp.MustCompile(`accepted ([0-9a-f-]{36})`).FindStringSubmatch(r.Stdout)
		require.NotNil(t, match, "send prints the id: %q", r.Stdout)
		id := match[1]
		assert.Contains(t, r.Stdout, "policy otp")
		assert.Contains(t, r.Stdout, "whatsapp -> sms -> email")

		env = []string{"SWITCHBOARD_URL=" + g.URL, "SWITCHBOARD_API_KEY=" + readKey}
		var m client.Message
		eventually(t, stateTimeout, "switchboard status to show "+id+" delivered", func() (bool, string) {
			r := cli(t, env, "status", "--json", id)
			if r.Code != 0 {
				return false, r.Stderr
			}
			if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil {
				return false, err.Error()
			}
			return m.Status == "delivered", m.Status
		})
		assert.Equal(t, id, m.ID)
		assert.Equal(t, "whatsapp", m.Channel)

		r = cli(t, env, "status", id)
		require.Equal(t, 0, r.Code, "stderr %q", r.Stderr)
		assert.Contains(t, r.Stdout, id)
		assert.Contains(t, r.Stdout, "delivered via whatsapp")

		// Without a key the CLI refuses, as a usage error, before any call.
		r = cli(t, []string{"SWITCHBOARD_URL=" + g.URL, "SWITCHBOARD_API_KEY="}, "status", id)
		assert.Equal(t, 2, r.Code, "stderr %q", r.Stderr)
		assert.Contains(t, r.Stderr, "SWITCHBOARD_API_KEY")

		// An unknown id is an error (exit 1) naming the API's answer.
		r = cli(t, env, "status", "01a20000-0000-7000-8000-000000000000")
		assert.Equal(t, 1, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "not_found")

		// With a send key, status shows the messages that key sent; another
		// key's message is the same not_found as an unknown id.
		sendEnv := []string{"SWITCHBOARD_URL=" + g.URL, "SWITCHBOARD_API_KEY=" + sendKey}
		r = cli(t, sendEnv, "status", id)
		require.Equal(t, 0, r.Code, "stderr %q", r.Stderr)
		assert.Contains(t, r.Stdout, id)
		r = cli(t, []string{"SWITCHBOARD_URL=" + g.URL, "SWITCHBOARD_API_KEY=" + adminKey}, "send",
			"--whatsapp", "+15551237778", "--body", "ops only", "--tags", "otp")
		require.Equal(t, 0, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		adminID := regexp.MustCompile(`accepted ([0-9a-f-]{36})`).FindStringSubmatch(r.Stdout)
		require.NotNil(t, adminID, r.Stdout)
		unknown := cli(t, sendEnv, "status", "01a20000-0000-7000-8000-000000000000")
		r = cli(t, sendEnv, "status", adminID[1])
		assert.Equal(t, 1, r.Code, "stdout %q stderr %q", r.Stdout, r.Stderr)
		assert.Equal(t, unknown.Stderr, strings.ReplaceAll(r.Stderr, adminID[1], "01a20000-0000-7000-8000-000000000000"))
		assert.NotContains(t, r.Stdout+r.Stderr, "ops only")
	})
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeConfig writes the example config with edits (old, new pairs).
func writeConfig(t *testing.T, edits ...string) string {
	t.Helper()
	s := string(switchboard.ExampleConfig)
	for i := 0; i+1 < len(edits); i += 2 {
		require.Contains(t, s, edits[i])
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	p := filepath.Join(t.TempDir(), "switchboard.yaml")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
	return p
}

func TestConfigDiff(t *testing.T) {
	t.Parallel()
	oldPath := writeConfig(t)
	newPath := writeConfig(t,
		"route: [whatsapp, email]", "route: [email, whatsapp]",
		"    kind: telegram\n    mode: up", "    kind: telegram\n    mode: down",
		`key: "${SB_READ_KEY:-dev-read-key-0123456789}"`, `key: "a-rotated-read-key-0123456789"`,
	)
	code, out, errOut := runCLI(t, "config", "diff", oldPath, newPath)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "~ channel telegram: mode changed\n"+
		"~ policy default: route: [whatsapp, email] → [email, whatsapp]\n"+
		"~ API key support: key changed\n", out)
	require.NotContains(t, out, "rotated")

	code, out, _ = runCLI(t, "config", "diff", oldPath, oldPath)
	require.Equal(t, 0, code)
	require.Equal(t, "no changes\n", out)

	restart := writeConfig(t, "dsn: data/switchboard.db", "dsn: data/other.db")
	code, out, _ = runCLI(t, "config", "diff", oldPath, restart)
	require.Equal(t, 0, code)
	require.Contains(t, out, "~ store.dsn changed (needs a restart)\n")
	require.Contains(t, out, "a reload of "+restart+" would be refused")

	bad := writeConfig(t, "  sms:\n    type: sim\n", "  sms:\n    type: sim\n    retires: 3\n")
	code, out, errOut = runCLI(t, "config", "diff", oldPath, bad)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Contains(t, errOut, bad+" is not valid")
	require.Regexp(t, regexp.QuoteMeta(bad)+`:\d+: channels.sms: unknown key "retires"`, errOut)

	code, _, _ = runCLI(t, "config", "diff", oldPath)
	require.Equal(t, 2, code)
}

func TestRoutesExplain(t *testing.T) {
	t.Parallel()
	path := writeConfig(t)
	code, out, errOut := runCLI(t, "routes", "explain", "--config", path,
		"--to-whatsapp", "+15551234567", "--to-phone", "+15551234567", "--tags", "otp", "--assume-down", "whatsapp")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, []string{
		"policy:  otp",
		"route:   whatsapp → sms → telegram → email",
		"sends on: sms",
		"",
		"CHANNEL   KIND      IN/OUT  WHY         IN WORDS",
		"whatsapp  whatsapp  out     unhealthy   whatsapp was skipped: its health checks said it was down (assume_down: assumed down for this explanation)",
		"sms       sms       in      ok          sms can take the message",
		"telegram  telegram  out     no_address  telegram was skipped: the message has no address for it",
		"email     email     out     no_address  email was skipped: the message has no address for it",
		"",
		"country: US",
		"",
		"POLICY   MATCHED  WHY",
		`otp      yes      tag "otp" is in match.tags`,
		`default  no       not considered: policy "otp" matched first`,
	}, trimRight(lines))

	code, out, errOut = runCLI(t, "routes", "explain", "--config", path, "--json", "--to-email", "ana@example.com", "--assume-down", "whatsapp,email")
	require.Equal(t, 0, code, errOut)
	var exp struct {
		Policy   string `json:"policy"`
		Channel  string `json:"channel"`
		Channels []struct {
			Channel, Reason string
			Use             bool
		} `json:"channels"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &exp), out)
	require.Equal(t, "default", exp.Policy)
	require.Empty(t, exp.Channel, "every channel that could take it is down")
	require.Equal(t, "unhealthy", exp.Channels[1].Reason)

	code, out, errOut = runCLI(t, "routes", "explain", "--config", path, "--json", "--to-phone", "+15551234567", "--to-whatsapp", "+447700900123")
	require.Equal(t, 0, code, errOut)
	var countries struct {
		Country   string            `json:"country"`
		Countries map[string]string `json:"countries"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &countries), out)
	require.Equal(t, "US", countries.Country)
	require.Equal(t, map[string]string{"phone": "US", "whatsapp": "GB"}, countries.Countries)
	code, _, errOut = runCLI(t, "routes", "explain", "--config", path, "--to-phone", "+1555123456")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--to-phone: not a possible phone number: it is too short for its country (US)")

	code, _, errOut = runCLI(t, "routes", "explain", "--config", path, "--assume-down", "fax")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `--assume-down: unknown channel "fax"`)
	code, _, errOut = runCLI(t, "routes", "explain", "--config", path, "--policy", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `--policy: unknown policy "nope"`)
}

func trimRight(lines []string) []string {
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines
}

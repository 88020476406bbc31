package gateway_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Recipients and secrets of the full-run scan: none may appear in a log
// line or an error body.
const (
	scanPhone          = "+15557654321"
	scanEmail          = "zoe.private@example.org"
	scanCallbackSecret = "whsec_scan-callback-secret-0123456789"
)

var scanBody = `{"to":{"whatsapp":"` + scanPhone + `","phone":"` + scanPhone + `","email":"` + scanEmail + `"},"body":"Your code is 918273","tags":["otp"]}`

// TestFullRunLeaksNoSecretOrRecipient runs the gateway through an outage
// at debug level: messages that fail over, receipts, status callbacks,
// a disable and enable, bad requests and bad reloads (one of which repeats
// an API key). No API key, callback secret, full phone number or email
// address may show in the log or in any error the gateway returned.
func TestFullRunLeaksNoSecretOrRecipient(t *testing.T) {
	t.Parallel()
	yml := edit(t, baseConfig,
		"{name: shop, key: "+sendKey+", role: send}", "{name: shop, key: "+sendKey+", role: send, callback_secret: "+scanCallbackSecret+"}",
		"dispatch: {poll: 20ms}", "dispatch: {poll: 20ms}\nlog: {level: debug}")
	lv := new(slog.LevelVar)
	tb := setupLogged(t, yml, false, lv)
	require.Equal(t, slog.LevelDebug, lv.Level(), "log.level puts the gateway at debug")
	h := newHook(t, nil)

	var errs []string // every non-2xx body
	call := func(method, path, key, body string, want int) map[string]any {
		status, out := tb.do(t, method, path, key, body)
		require.Equal(t, want, status, "%s %s: %v", method, path, out)
		if status >= 300 {
			errs = append(errs, fmt.Sprint(out))
		}
		return out
	}

	call("POST", "/v1/channels/whatsapp/sim", adminKey, `{"mode":"down"}`, 200)
	var ids []string
	for range 3 {
		out := call("POST", "/v1/messages", sendKey, withCallbackURL(scanBody, h.srv.URL+"/hooks"), 202)
		ids = append(ids, out["id"].(string))
	}
	for _, id := range ids {
		m := tb.waitMessage(t, id, "delivered on sms", func(m map[string]any) bool { return m["status"] == "delivered" })
		require.Equal(t, "sms", m["channel"])
		h.waitCalls(id, 2)
	}
	call("GET", "/v1/messages?to="+strings.ReplaceAll(scanPhone, "+", "%2B"), readKey, "", 200)
	call("POST", "/v1/routes/explain", sendKey, scanBody, 200)
	call("POST", "/v1/channels/sms/disable", adminKey, `{"reason":"scan drill"}`, 200)
	call("POST", "/v1/channels/sms/enable", adminKey, "", 200)
	call("POST", "/v1/channels/whatsapp/sim", adminKey, `{"mode":"up"}`, 200)

	// Requests that fail: a bad key, a wrong role, invalid recipients.
	call("POST", "/v1/messages", sendKey+"x", scanBody, 401)
	call("POST", "/v1/channels/sms/disable", sendKey, "", 403)
	call("POST", "/v1/messages", sendKey, `{"to":{"phone":"15557654321"},"body":"x"}`, 422)
	call("POST", "/v1/messages", sendKey, `{"to":{"email":"`+scanEmail+`","fax":"`+scanPhone+`"},"body":"x"}`, 400)

	// Bad reloads: an unknown key, a duplicated API key, a short key.
	for _, bad := range []string{
		edit(t, yml, "  - name: default\n", "  - name: default\n    retires: 3\n"),
		edit(t, yml, "{name: support, key: "+readKey+",", "{name: support, key: "+sendKey+","),
		edit(t, yml, "{name: ops, key: "+adminKey+",", "{name: ops, key: short-"+scanCallbackSecret[:4]+","),
	} {
		tb.write(t, bad)
		call("POST", "/-/reload", adminKey, "", 422)
	}
	tb.write(t, yml)
	call("POST", "/-/reload", adminKey, "", 200)

	logs := tb.logs.String()
	require.Contains(t, logs, "level=DEBUG msg=attempt", "debug lines were written")
	require.Contains(t, logs, "message delivered on a fallback channel")
	require.Contains(t, logs, "+155******21", "recipients are logged masked")
	require.Contains(t, logs, "config reload failed")
	for name, text := range map[string]string{"logs": logs, "errors": strings.Join(errs, "\n")} {
		for _, secret := range []string{sendKey, readKey, adminKey, scanCallbackSecret, secretOf(t, tb.g, "support"),
			scanPhone, strings.TrimPrefix(scanPhone, "+"), scanEmail, "zoe.private", "918273"} {
			require.NotContains(t, text, secret, "%s hold %q", name, secret)
		}
	}
}

// TestReloadUnderLoad flips the config between two valid versions (other
// policies and routes, a changed channel) and an invalid one while a
// client keeps sending: no request fails, no accepted message is lost, and
// each message has a policy and route of a config in force while it was
// being accepted.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	versionA := baseConfig
	versionB := edit(t, baseConfig,
		"sms:      {type: sim, kind: sms, latency: 0s,", "sms:      {type: sim, kind: sms, latency: 1ms,",
		"  - name: otp\n", "  - name: urgent\n",
		"route: [whatsapp, sms, email]", "route: [sms, email]",
		"route: [whatsapp, email]", "route: [email]")
	invalid := edit(t, baseConfig, "  - name: default\n", "  - name: default\n    retires: 3\n")
	routes := map[int]map[string][]any{
		0: {"otp": {"whatsapp", "sms", "email"}, "default": {"whatsapp", "email"}},
		1: {"urgent": {"sms", "email"}, "default": {"email"}},
	}
	tb := setup(t, versionA, false)

	// inForce holds the versions that may be in force: during a reload,
	// the old and the new one.
	var mu sync.Mutex
	inForce := map[int]bool{0: true}
	snapshot := func() map[int]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[int]bool{}
		for v := range inForce {
			out[v] = true
		}
		return out
	}

	type sent struct {
		id       string
		versions map[int]bool
	}
	var (
		accepted []sent
		failures []string
		stop     = make(chan struct{})
		sender   sync.WaitGroup
	)
	bodies := []string{otpBody, `{"to":{"whatsapp":"+15551234567","email":"ana@example.com"},"body":"Your parcel is on its way"}`}
	sender.Add(1)
	go func() {
		defer sender.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			before := snapshot()
			req, _ := http.NewRequest(http.MethodPost, tb.base+"/v1/messages", strings.NewReader(bodies[i%2]))
			req.Header.Set("Authorization", "Bearer "+sendKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := tb.http.Do(req)
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			var out map[string]any
			decodeErr := jsonDecode(resp, &out)
			if resp.StatusCode != http.StatusAccepted || decodeErr != nil {
				failures = append(failures, fmt.Sprintf("%d %v %v", resp.StatusCode, out, decodeErr))
				continue
			}
			for v := range snapshot() {
				before[v] = true
			}
			accepted = append(accepted, sent{id: out["id"].(string), versions: before})
		}
	}()

	reloads := 0
	for cycle := range 3 {
		for _, step := range []struct {
			yml     string
			version int
		}{{versionB, 1}, {invalid, -1}, {versionA, 0}, {invalid, -1}} {
			_ = cycle
			mu.Lock()
			old := -1
			for v := range inForce {
				old = v
			}
			if step.version >= 0 {
				inForce[step.version] = true
			}
			mu.Unlock()
			tb.write(t, step.yml)
			status, out := tb.reload(t)
			mu.Lock()
			if step.version >= 0 {
				require.Equal(t, http.StatusOK, status, "%v", out)
				clear(inForce)
				inForce[step.version] = true
				reloads++
			} else {
				require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
				require.True(t, inForce[old])
			}
			mu.Unlock()
			time.Sleep(30 * time.Millisecond) // let some sends land on this version (not a timing assertion)
		}
	}
	close(stop)
	sender.Wait()
	require.Equal(t, 6, reloads)
	require.Empty(t, failures, "every send during the reloads is accepted")
	require.NotEmpty(t, accepted)
	t.Logf("%d messages accepted during %d reloads", len(accepted), reloads)

	for _, s := range accepted {
		m := tb.waitMessage(t, s.id, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })
		policy := m["policy"].(string)
		ok := false
		for v := range s.versions {
			if route, found := routes[v][policy]; found && fmt.Sprint(route) == fmt.Sprint(m["route"]) {
				ok = true
			}
		}
		require.True(t, ok, "message %s has policy %q and route %v: not a policy and route of one config in force while it was accepted (%v)",
			s.id, policy, m["route"], s.versions)
	}
	require.Equal(t, "0", tb.metric(t, "switchboard_config_last_reload_successful"), "the last reload was the invalid one")
}

// TestOutageShowsInMetrics: a short sim outage of whatsapp moves the
// failover, attempt, breaker and degraded metrics; when whatsapp is back
// and its breaker closes again, messages go to it again.
func TestOutageShowsInMetrics(t *testing.T) {
	t.Parallel()
	tb := setup(t, edit(t, baseConfig, "breaker: {failures: 2, open_for: 1h}", "breaker: {failures: 2, open_for: 3s}"), false)
	require.Equal(t, 0.0, tb.sample(t, `switchboard_channel_breaker_state{channel="whatsapp"}`))

	status, _ := tb.do(t, http.MethodPost, "/v1/channels/whatsapp/sim", adminKey, `{"mode":"down"}`)
	require.Equal(t, http.StatusOK, status)
	for range 3 {
		id := tb.send(t, otpBody)
		m := tb.waitMessage(t, id, "delivered on sms", func(m map[string]any) bool { return m["status"] == "delivered" })
		require.Equal(t, "sms", m["channel"])
		require.Equal(t, true, m["is_fallback"])
	}
	// Open (2), or already half-open (1) when open_for passed on a loaded
	// machine: a breaker only gets to half-open by opening. open_for is
	// long enough (3s) that a half-open trial, which would fail and reopen
	// it, or a sample taken mid-transition, cannot hide the opening; the
	// recovery below waits it out.
	require.GreaterOrEqual(t, tb.sample(t, `switchboard_channel_breaker_state{channel="whatsapp"}`), 1.0, "the breaker opened during the outage")
	require.GreaterOrEqual(t, tb.sample(t, `switchboard_failovers_total{from="whatsapp",to="sms",trigger="error"}`), 2.0)
	failed := 0.0
	for _, class := range []string{"transient", "permanent", "ambiguous"} {
		failed += tb.sample(t, `switchboard_attempts_total{channel="whatsapp",outcome="`+class+`"}`)
	}
	require.GreaterOrEqual(t, failed, 2.0, "failed attempts on whatsapp by outcome")
	require.Equal(t, 3.0, tb.sample(t, `switchboard_attempts_total{channel="sms",outcome="sent"}`))
	require.Equal(t, 3.0, tb.sample(t, `switchboard_messages_degraded_total{channel="sms",policy="otp"}`))

	// Back up: once the breaker lets a try through, whatsapp takes messages again.
	status, _ = tb.do(t, http.MethodPost, "/v1/channels/whatsapp/sim", adminKey, `{"mode":"up"}`)
	require.Equal(t, http.StatusOK, status)
	deadline := time.Now().Add(waitFor)
	for {
		id := tb.send(t, otpBody)
		m := tb.waitMessage(t, id, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })
		if m["channel"] == "whatsapp" {
			break
		}
		require.True(t, time.Now().Before(deadline), "whatsapp did not take messages again")
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, 0.0, tb.sample(t, `switchboard_channel_breaker_state{channel="whatsapp"}`), "closed again")
	require.GreaterOrEqual(t, tb.sample(t, `switchboard_attempts_total{channel="whatsapp",outcome="sent"}`), 1.0)
	// The finished counter moves after the status the API showed is
	// stored, so it is waited for rather than sampled once.
	finished := `switchboard_messages_finished_total{channel="whatsapp",policy="",status="delivered"}`
	for tb.sample(t, finished) == 0 {
		require.True(t, time.Now().Before(deadline.Add(waitFor)), "no delivered message counted for whatsapp")
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 1.0, tb.sample(t, finished))
	// Every message sms took while whatsapp's breaker waited out open_for
	// is degraded too: how many depends on the machine's speed.
	require.GreaterOrEqual(t, tb.sample(t, `switchboard_messages_degraded_total{channel="sms",policy="otp"}`), 3.0)
}

var sampleRe = regexp.MustCompile(`^(\S+) (\S+)$`)

// sample is the value of one labelled sample in /metrics; 0 if absent.
// Labels are given in the exposition's (sorted) order.
func (tb *testBundle) sample(t *testing.T, series string) float64 {
	t.Helper()
	name, _, _ := strings.Cut(series, "{")
	for _, l := range strings.Split(tb.metricLines(t, name), "\n") {
		if m := sampleRe.FindStringSubmatch(l); m != nil && m[1] == series {
			v, err := strconv.ParseFloat(m[2], 64)
			require.NoError(t, err)
			return v
		}
	}
	return 0
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestReloadChangesLogLevel: log.level applies on reload; log.format needs
// a restart, and a reload that changes it is refused saying so.
func TestReloadChangesLogLevel(t *testing.T) {
	t.Parallel()
	lv := new(slog.LevelVar)
	tb := setupLogged(t, baseConfig, false, lv)
	require.Equal(t, slog.LevelInfo, lv.Level(), "default: info")

	withLog := func(section string) string {
		return edit(t, baseConfig, "dispatch: {poll: 20ms}", "dispatch: {poll: 20ms}\nlog: "+section)
	}
	tb.write(t, withLog("{level: debug}"))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "~ log.level: info → debug", out["summary"])
	require.Equal(t, slog.LevelDebug, lv.Level())
	require.Contains(t, tb.logs.String(), `msg="log level changed" from=INFO to=DEBUG`)
	id := tb.send(t, otpBody)
	tb.waitMessage(t, id, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })
	require.Contains(t, tb.logs.String(), "level=DEBUG msg=attempt")

	tb.write(t, withLog("{level: debug, format: json}"))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	require.Contains(t, out["error"].(map[string]any)["message"], "log.format: changed from text to json: a running gateway cannot apply this; restart it")
	require.Equal(t, slog.LevelDebug, lv.Level(), "a refused reload changes nothing")

	tb.write(t, withLog("{level: warn}"))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, slog.LevelWarn, lv.Level())
}

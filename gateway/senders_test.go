package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

const testServiceSID = "MG0123456789abcdef0123456789abcdef"

// sendersConfig: a Twilio SMS channel (Prism serving Twilio's spec) with a
// sender for India and the US but none for Brazil and no default, whose
// breaker opens on a single counted failure; email behind it.
const sendersConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
channels:
  sms:
    type: twilio-sms
    account_sid: AC0123456789abcdef0123456789abcdef
    auth_token: 0f1e2d3c4b5a69788796a5b4c3d2e1f0
    senders: {IN: SWBOARD, US: ` + testServiceSID + `}
    endpoint: %PRISM%
    breaker: {failures: 1, open_for: 1h}
    retry: {attempts: 1}
    probe: {interval: 1h}
  email: {type: sim, kind: email, latency: 0s, probe: {interval: 1h}}
policies:
  - name: default
    route: [sms, email]
`

// TestSenderPerCountryThroughGateway: a message to a country the SMS
// channel has no sender for fails there as misconfigured naming the
// country and goes on by email; the channel's breaker (one failure opens
// it) stays closed, so the next message to India goes by SMS from its
// sender ID and one to the US through the messaging service; each
// attempt's sender is stored and returned by the API.
func TestSenderPerCountryThroughGateway(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	yml := strings.NewReplacer("%DSN%", filepath.Join(t.TempDir(), "sb.db"), "%PRISM%", prism).Replace(sendersConfig)
	cfg, err := config.Parse("t.yaml", []byte(yml))
	require.NoError(t, err)
	base, stop := run(t, cfg)
	defer stop()

	send := func(to string) string {
		r := post(t, base, "/v1/messages", `{"to":`+to+`,"body":"Your code is 123456"}`)
		require.Equal(t, http.StatusAccepted, r.status, "%v", r.body)
		return r.body["id"].(string)
	}
	// attempts polls the message until it has n attempts, the last one
	// no longer in flight.
	attempts := func(id string, n int) []map[string]any {
		deadline := time.Now().Add(15 * time.Second)
		for {
			m := getJSON(t, base, "/v1/messages/"+id, sendKey)
			as, _ := m["attempts"].([]any)
			if st := m["status"]; st == "failed" || st == "expired" {
				require.Len(t, as, n, "message %s ended: %v", id, m) // and the asserts below say how
			}
			if len(as) >= n {
				last := as[n-1].(map[string]any)
				if st := last["status"]; st == "sent" || st == "delivered" || st == "failed" {
					out := make([]map[string]any, len(as))
					for i, a := range as {
						out[i] = a.(map[string]any)
					}
					return out
				}
			}
			require.True(t, time.Now().Before(deadline), "message %s: %v", id, m)
			time.Sleep(20 * time.Millisecond)
		}
	}

	br := send(`{"phone":"+5511987654321","email":"ana@example.com"}`)
	as := attempts(br, 2)
	require.Equal(t, "sms", as[0]["channel"])
	require.Equal(t, "failed", as[0]["status"])
	require.Equal(t, "misconfigured", as[0]["error_class"])
	require.Equal(t, "error", as[0]["failover_reason"])
	require.Contains(t, as[0]["error"], `no sender for BR: senders has neither BR nor "default"`)
	require.NotContains(t, as[0], "sender", "no sender was chosen")
	require.Equal(t, "email", as[1]["channel"])

	in := send(`{"phone":"+919876543210"}`)
	as = attempts(in, 1)
	require.Len(t, as, 1)
	require.Equal(t, "sms", as[0]["channel"])
	require.Equal(t, "sent", as[0]["status"], "the breaker did not open for India: %v", as[0])
	require.Equal(t, "SWBOARD", as[0]["sender"])

	us := send(`{"phone":"+15551234567"}`)
	as = attempts(us, 1)
	require.Equal(t, "sent", as[0]["status"], "%v", as[0])
	require.Equal(t, testServiceSID, as[0]["sender"])

	// The attempts as returned match the API document's Attempt.
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	require.NoError(t, err)
	for _, id := range []string{br, in, us} {
		for _, a := range getJSON(t, base, "/v1/messages/"+id, sendKey)["attempts"].([]any) {
			require.NoError(t, doc.Components.Schemas["Attempt"].Value.VisitJSON(a), "%v", a)
		}
	}

	chs := getJSON(t, base, "/v1/channels", readKey)
	breaker := map[string]any{}
	for _, c := range chs["channels"].([]any) {
		c := c.(map[string]any)
		breaker[c["name"].(string)] = c["breaker"]
	}
	require.Equal(t, "closed", breaker["sms"])
}

func getJSON(t *testing.T, base, path, key string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), "%s", data)
	return out
}

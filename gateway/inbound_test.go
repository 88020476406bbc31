package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

const (
	tgWebhookSecret = "tg_secret-for-gateway-tests"
	inboundSecretA  = "inbound-secret-A-0123456789"
	inboundSecretB  = "inbound-secret-B-0123456789"
)

// withInbound is baseConfig with a Telegram channel taking updates and
// an inbound section (none when url is "").
func withInbound(url, secret string) string {
	yml := strings.Replace(baseConfig, "channels:\n",
		"channels:\n  tg: {type: telegram, token: \"123456789:AAHgateway-test\", webhook_secret: "+tgWebhookSecret+", endpoint: \"http://127.0.0.1:1\", probe: {interval: 1h}}\n", 1)
	if url != "" {
		yml += fmt.Sprintf("inbound: {callback_url: %q, callback_secret: %q}\n", url, secret)
	}
	return yml
}

// update posts a Telegram update with a text message and returns the
// stored inbound message's id.
func (tb *testBundle) update(t *testing.T, msgID int, text string) string {
	t.Helper()
	body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":4242,"type":"private"},"text":%q}}`, msgID, msgID, time.Now().Unix(), text)
	req, err := http.NewRequest(http.MethodPost, tb.base+"/v1/webhooks/telegram?channel=tg", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", tgWebhookSecret)
	resp, err := tb.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, out := tb.do(t, http.MethodGet, "/v1/inbound?channel=tg&limit=1", readKey, "")
	require.Equal(t, http.StatusOK, status)
	got := out["inbound"].([]any)[0].(map[string]any)
	require.Equal(t, text, got["text"])
	return got["id"].(string)
}

// TestInboundCallbackFollowsReload: inbound.callback_url and
// inbound.callback_secret are applied by a reload, like the callbacks
// address policy.
func TestInboundCallbackFollowsReload(t *testing.T) {
	t.Parallel()
	a, b := newHook(t, nil), newHook(t, nil)
	tb := setupCallbacks(t, withInbound(a.srv.URL+"/in", inboundSecretA))

	first := tb.update(t, 1, "hello")
	calls := a.waitCalls(first, 1)
	require.NoError(t, client.VerifySignature(inboundSecretA, calls[0].signature, calls[0].body, time.Minute, time.Now()))

	tb.write(t, withInbound(b.srv.URL+"/in", inboundSecretB))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "reloaded", out["status"], "%v", out)

	second := tb.update(t, 2, "second")
	calls = b.waitCalls(second, 1)
	require.NoError(t, client.VerifySignature(inboundSecretB, calls[0].signature, calls[0].body, time.Minute, time.Now()))
	require.Error(t, client.VerifySignature(inboundSecretA, calls[0].signature, calls[0].body, time.Minute, time.Now()))
	require.Empty(t, a.calls(second), "the old URL gets nothing new")

	// Without an inbound section messages are still stored, and called
	// back to no one.
	tb.write(t, withInbound("", ""))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	third := tb.update(t, 3, "third")
	require.Empty(t, a.calls(third))
	require.Empty(t, b.calls(third))
	require.Equal(t, "3", tb.metric(t, `switchboard_inbound_messages_total{action="none",channel="tg"}`))
}

package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWebhookRoutesByProvider: /v1/webhooks/{provider} reaches only the
// channel types that declared the provider at channels.Register, never a
// channel of another type, and a provider no type declared is a 404.
func TestWebhookRoutesByProvider(t *testing.T) {
	t.Parallel()
	tb := setupProviders(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, field  string // of the JSON error; "" for a provider's own answer
	}{
		{"POST", "/v1/webhooks/nope", 404, "not_found", "provider"},
		{"POST", "/v1/webhooks/sim", 404, "not_found", "provider"},
		{"GET", "/v1/webhooks/smtp", 404, "not_found", "provider"},
		{"POST", "/v1/webhooks/twilio?channel=wacloud", 404, "unknown_channel", "channel"},
		{"POST", "/v1/webhooks/whatsapp-cloud?channel=sms", 404, "unknown_channel", "channel"},
		{"POST", "/v1/webhooks/twilio", 400, "missing_field", "channel"}, // two twilio channels
		// The only whatsapp-cloud channel needs no ?channel=.
		{"GET", "/v1/webhooks/whatsapp-cloud?hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=42", 200, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tb.base+tc.path, strings.NewReader("MessageSid=SM1"))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := tb.http.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.code == "" {
				return
			}
			var e struct {
				Error struct{ Code, Field string }
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			require.Equal(t, tc.code, e.Error.Code)
			require.Equal(t, tc.field, e.Error.Field)
		})
	}
}

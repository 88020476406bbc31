package all_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	_ "github.com/switchboard-gw/switchboard/channels/all"
)

// TestWebhookProviders: each channel type that takes provider callbacks
// declares its provider at Register; the API routes by this, not by name.
func TestWebhookProviders(t *testing.T) {
	for _, tc := range []struct {
		provider string
		types    []string
	}{
		{"twilio", []string{"twilio-sms", "twilio-whatsapp"}},
		{"whatsapp-cloud", []string{"whatsapp-cloud"}},
		{"sim", nil},
		{"smtp", nil},
		{"telegram", []string{"telegram"}},
		{"twilio-sms", nil},
	} {
		require.Equal(t, tc.types, channels.WebhookTypes(tc.provider), tc.provider)
	}
}

func TestWebhookURL(t *testing.T) {
	for _, tc := range []struct{ base, provider, channel, want string }{
		{"https://sb.example.com", "twilio", "ch", "https://sb.example.com/v1/webhooks/twilio?channel=ch"},
		{"https://sb.example.com/", "twilio", "ch", "https://sb.example.com/v1/webhooks/twilio?channel=ch"},
		{"https://sb.example.com/gw/", "whatsapp-cloud", "wa eu&x", "https://sb.example.com/gw/v1/webhooks/whatsapp-cloud?channel=wa+eu%26x"},
		{"", "twilio", "ch", ""},
	} {
		require.Equal(t, tc.want, channels.WebhookURL(tc.base, tc.provider, tc.channel))
	}
}

package whatsappcloud_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
)

// Signed status webhooks with the pricing object Meta documents: billable
// and a category become the receipt's price (no amount: Meta sends none);
// billable false is a free message; no pricing object, no price.
func TestWebhookPricing(t *testing.T) {
	t.Parallel()
	status := func(st, pricing string) string {
		p := ""
		if pricing != "" {
			p = `,"pricing":` + pricing
		}
		return `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{` +
			`"messaging_product":"whatsapp","metadata":{"phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.P","status":"` + st +
			`","timestamp":"1750263800","recipient_id":"15551234567"` + p + `}]}}]}]}`
	}
	tests := []struct {
		name string
		body string
		want *channels.Price
	}{
		{"billable utility (per-message pricing)", status("delivered", `{"billable":true,"pricing_model":"PMP","category":"utility","type":"regular"}`),
			&channels.Price{Category: "utility", Detail: "whatsapp pricing category=utility pricing_model=PMP type=regular billable=true"}},
		{"free service message", status("sent", `{"billable":false,"pricing_model":"PMP","category":"service","type":"free_customer_service"}`),
			&channels.Price{Free: true, Category: "service", Detail: "whatsapp pricing category=service pricing_model=PMP type=free_customer_service billable=false"}},
		{"older conversation-based pricing", status("sent", `{"billable":true,"pricing_model":"CBP","category":"marketing"}`),
			&channels.Price{Category: "marketing", Detail: "whatsapp pricing category=marketing pricing_model=CBP billable=true"}},
		{"no pricing object", status("read", ""), nil},
		{"empty pricing object", status("read", `{}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			resp, rs, err := newChannel(t, testOptions("http://127.0.0.1:1")).Webhook(t.Context(), postReq(body, sign(testAppSecret, body)))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status)
			require.Len(t, rs, 1)
			require.Equal(t, tt.want, rs[0].Price)
		})
	}
}

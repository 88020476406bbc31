package whatsappcloud_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/whatsappcloud"
)

const webhookURL = "https://sb.example.com/v1/webhooks/whatsapp-cloud?channel=wa"

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func getReq(q url.Values) *channels.WebhookRequest {
	return &channels.WebhookRequest{Method: http.MethodGet, URL: webhookURL + "&" + q.Encode(), Header: http.Header{}, Query: q}
}

func postReq(body []byte, sig string) *channels.WebhookRequest {
	h := http.Header{"Content-Type": {"application/json"}}
	if sig != "" {
		h.Set(whatsappcloud.SignatureHeader, sig)
	}
	return &channels.WebhookRequest{Method: http.MethodPost, URL: webhookURL, Header: h, Query: url.Values{"channel": {"wa"}}, Body: body}
}

func TestWebhookVerification(t *testing.T) {
	t.Parallel()
	good := url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1158201444"}, "hub.verify_token": {testVerifyToken}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range good {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	tests := []struct {
		name        string
		q           url.Values
		verifyToken string // the channel's; "-" means unset
		badSig      bool
		wantErr     string
	}{
		{name: "good", q: good},
		{name: "wrong token", q: with("hub.verify_token", "guess"), badSig: true, wantErr: "hub.verify_token does not match verify_token"},
		{name: "token prefix", q: with("hub.verify_token", testVerifyToken[:5]), badSig: true, wantErr: "does not match"},
		{name: "missing token", q: with("hub.verify_token", ""), badSig: true, wantErr: "does not match"},
		{name: "verify_token not configured", q: with("hub.verify_token", ""), verifyToken: "-", badSig: true, wantErr: "verify_token is not configured"},
		{name: "wrong mode", q: with("hub.mode", "unsubscribe"), wantErr: `hub.mode is "unsubscribe", want "subscribe"`},
		{name: "no challenge", q: with("hub.challenge", ""), wantErr: "hub.challenge is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions("http://127.0.0.1:1")
			if tt.verifyToken == "-" {
				o.VerifyToken = ""
			}
			resp, rs, err := newChannel(t, o).Webhook(t.Context(), getReq(tt.q))
			require.Empty(t, rs)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.Status)
				require.Equal(t, "text/plain; charset=utf-8", resp.ContentType)
				require.Equal(t, "1158201444", string(resp.Body))
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, tt.badSig, errors.Is(err, channels.ErrBadSignature))
			channeltest.RequireNoSecret(t, secrets, err)
		})
	}
}

// statusPayload is a status notification as Meta documents it: one sent
// status for the number this channel sends from.
const statusPayload = `{
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [{
      "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{
          "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0",
          "status": "sent",
          "timestamp": "1750263773",
          "recipient_id": "15551234567",
          "conversation": {"id": "6ceb9d929c1c2e7a0bd3d9d8a2c1b0a1", "expiration_timestamp": "1750350180", "origin": {"type": "utility"}},
          "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility"}
        }]
      },
      "field": "messages"
    }]
  }]
}`

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	body := []byte(statusPayload)
	tampered := []byte(statusPayload[:len(statusPayload)-2] + " }")
	tests := []struct {
		name      string
		body      []byte
		sig       string
		appSecret string // "-" means unset
		wantErr   string
	}{
		{name: "good", body: body, sig: sign(testAppSecret, body)},
		{name: "missing", body: body, wantErr: "X-Hub-Signature-256 is missing"},
		{name: "wrong secret", body: body, sig: sign("other-secret", body), wantErr: "does not match the body"},
		{name: "tampered body", body: tampered, sig: sign(testAppSecret, body), wantErr: "does not match the body"},
		{name: "sha1 form", body: body, sig: "sha1=" + sign(testAppSecret, body)[7:], wantErr: `is not "sha256=<hex>"`},
		{name: "not hex", body: body, sig: "sha256=zz", wantErr: `is not "sha256=<hex>"`},
		{name: "truncated", body: body, sig: sign(testAppSecret, body)[:21], wantErr: "does not match the body"},
		{name: "app_secret not configured", body: body, sig: sign("", body), appSecret: "-", wantErr: "app_secret is not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions("http://127.0.0.1:1")
			if tt.appSecret == "-" {
				o.AppSecret = ""
			}
			resp, rs, err := newChannel(t, o).Webhook(t.Context(), postReq(tt.body, tt.sig))
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.Status)
				require.Len(t, rs, 1)
				return
			}
			require.ErrorIs(t, err, channels.ErrBadSignature)
			require.ErrorContains(t, err, tt.wantErr)
			require.Empty(t, rs)
			channeltest.RequireNoSecret(t, secrets, err)
		})
	}
}

// manyPayload has two entries (two WABAs of one app), several changes and
// statuses, a failed status with errors[], an inbound message to ignore, a
// status kind that says nothing about delivery, and another number's
// statuses.
const manyPayload = `{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "field": "messages",
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [
              {"id": "wamid.A", "status": "delivered", "timestamp": "1750263800", "recipient_id": "15551234567"},
              {"id": "wamid.A", "status": "read", "timestamp": "1750263900", "recipient_id": "15551234567"},
              {
                "id": "wamid.B", "status": "failed", "timestamp": "1750264000", "recipient_id": "15557654321",
                "errors": [{
                  "code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                  "error_data": {"details": "Message Undeliverable."}
                }]
              },
              {"id": "wamid.C", "status": "deleted", "timestamp": "1750264100", "recipient_id": "15551234567"}
            ]
          }
        },
        {
          "field": "messages",
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551234567"}],
            "messages": [{"from": "15551234567", "id": "wamid.IN", "timestamp": "1750264200", "type": "text", "text": {"body": "thanks"}}]
          }
        }
      ]
    },
    {
      "id": "102290129340399",
      "changes": [
        {
          "field": "messages",
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783882", "phone_number_id": "999999999999999"},
            "statuses": [{"id": "wamid.OTHER", "status": "delivered", "timestamp": "1750264300", "recipient_id": "15551234567"}]
          }
        },
        {
          "field": "messages",
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [
              {"id": "wamid.D", "status": "sent", "timestamp": "1750264400", "recipient_id": "15551234567"},
              {"id": "wamid.E", "status": "failed", "timestamp": "1750264500", "recipient_id": "15551234567",
               "errors": [{"code": 131047, "title": "Re-engagement message",
                           "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]},
              {"id": "wamid.F", "status": "failed", "timestamp": "1750264600", "recipient_id": "15551234567"}
            ]
          }
        }
      ]
    }
  ]
}`

func TestWebhookReceipts(t *testing.T) {
	t.Parallel()
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	tests := []struct {
		name string
		body string
		want []channels.Receipt
	}{
		{
			name: "one sent status",
			body: statusPayload,
			want: []channels.Receipt{{Channel: "wa", ProviderID: "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0", Status: channels.ReceiptSent, At: at(1750263773),
				Price: &channels.Price{Category: "utility", Detail: "whatsapp pricing category=utility pricing_model=PMP billable=true"}}},
		},
		{
			name: "several entries, changes and statuses",
			body: manyPayload,
			want: []channels.Receipt{
				{Channel: "wa", ProviderID: "wamid.A", Status: channels.ReceiptDelivered, At: at(1750263800)},
				{Channel: "wa", ProviderID: "wamid.A", Status: channels.ReceiptRead, At: at(1750263900)},
				{Channel: "wa", ProviderID: "wamid.B", Status: channels.ReceiptFailed, At: at(1750264000),
					Error: "131026 Message undeliverable: Message Undeliverable."},
				{Channel: "wa", ProviderID: "wamid.D", Status: channels.ReceiptSent, At: at(1750264400)},
				{Channel: "wa", ProviderID: "wamid.E", Status: channels.ReceiptFailed, At: at(1750264500),
					Error: "131047 Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
				{Channel: "wa", ProviderID: "wamid.F", Status: channels.ReceiptFailed, At: at(1750264600), Error: "failed (no error given)"},
			},
		},
		{
			name: "inbound message only",
			body: `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp",` +
				`"metadata":{"phone_number_id":"106540352242922"},"messages":[{"from":"15551234567","id":"wamid.IN","timestamp":"1750264200","type":"text","text":{"body":"hi"}}]}}]}]}`,
		},
		{
			name: "other webhook field",
			body: `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"phone_number":"15550783881","event":"VERIFIED_ACCOUNT"}}]}]}`,
		},
		{
			name: "empty entry list",
			body: `{"object":"whatsapp_business_account","entry":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			resp, rs, err := newChannel(t, testOptions("http://127.0.0.1:1")).Webhook(t.Context(), postReq(body, sign(testAppSecret, body)))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status)
			require.Equal(t, tt.want, rs)
		})
	}
}

func TestWebhookOddTimestampKeepsReceipt(t *testing.T) {
	t.Parallel()
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{` +
		`"metadata":{"phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.X","status":"delivered","timestamp":"soon"}]}}]}]}`)
	before := time.Now()
	_, rs, err := newChannel(t, testOptions("http://127.0.0.1:1")).Webhook(t.Context(), postReq(body, sign(testAppSecret, body)))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Equal(t, channels.ReceiptDelivered, rs[0].Status)
	require.False(t, rs[0].At.Before(before))
}

func TestWebhookMalformed(t *testing.T) {
	t.Parallel()
	c := newChannel(t, testOptions("http://127.0.0.1:1"))
	body := []byte(`{"entry": [`)
	_, rs, err := c.Webhook(t.Context(), postReq(body, sign(testAppSecret, body)))
	require.ErrorContains(t, err, "whatsapp-cloud webhook: malformed body")
	require.NotErrorIs(t, err, channels.ErrBadSignature, "a signed bad body is a 400, not a 403")
	require.Empty(t, rs)

	_, _, err = c.Webhook(t.Context(), &channels.WebhookRequest{Method: http.MethodPut, Header: http.Header{}})
	require.ErrorContains(t, err, "method PUT not supported")
}

package whatsappcloud_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/whatsappcloud"
	"github.com/switchboard-gw/switchboard/config"
)

// FuzzWebhook feeds arbitrary bodies and signature headers to the Meta
// webhook: a forged or missing X-Hub-Signature-256 must be refused; a body
// the fuzz function signs with the app secret (so the JSON parser behind
// the check is reached) must parse or be refused, never panic, and never
// yield a receipt without a wamid or with an unknown status. The GET
// verification handshake gets arbitrary query strings too.
func FuzzWebhook(f *testing.F) {
	const phoneID = "106540352242922"
	status := func(id, st, extra string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{` +
			`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100000","phone_number_id":"` + phoneID + `"},` +
			`"statuses":[{"id":"` + id + `","status":"` + st + `","timestamp":"1700000000","recipient_id":"15551234567"` + extra + `}]}}]}]}`
	}
	for _, s := range []string{
		status("wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI", "delivered", ""),
		status("wamid.1", "read", ""),
		status("wamid.2", "sent", `,"conversation":{"id":"c1","origin":{"type":"utility"}},"pricing":{"billable":true}`),
		status("wamid.3", "failed", `,"errors":[{"code":131026,"title":"Message undeliverable","error_data":{"details":"Receiver is incapable"}}]`),
		status("wamid.4", "failed", `,"errors":[]`),
		status("wamid.5", "failed", `,"errors":[{"code":0,"message":"m"}]`),
		status("", "delivered", ""),
		status("wamid.6", "deleted", ""),
		strings.Replace(status("wamid.7", "delivered", ""), `"1700000000"`, `"-5"`, 1),
		strings.Replace(status("wamid.8", "delivered", ""), `"1700000000"`, `"99999999999999999999"`, 1),
		strings.Replace(status("wamid.9", "delivered", ""), phoneID, "999", 1),
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1555","type":"text"}]}}]}]}`,
		`{"entry":null}`, `{"entry":[{"changes":[null]}]}`, `[]`, `null`, `{`, ``, `{"entry":[{"changes":[{"value":{"statuses":[{"status":1}]}}]}]}`,
	} {
		f.Add([]byte(s), "", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=fuzz-verify-token")
		f.Add([]byte(s), "sha256=00", "hub.mode=subscribe&hub.challenge=&hub.verify_token=x")
	}
	f.Add([]byte(`{}`), "sha1=abc", "hub.mode=unsubscribe")
	f.Add([]byte(`{}`), "sha256=zz", "%zz")

	const appSecret, verifyToken = "fuzz-app-secret-0123456789", "fuzz-verify-token"
	opts := whatsappcloud.DefaultOptions()
	opts.PhoneNumberID = phoneID
	opts.Token = config.Secret("fuzz-token")
	opts.AppSecret = config.Secret(appSecret)
	opts.VerifyToken = config.Secret(verifyToken)
	ch, err := whatsappcloud.New("wa", opts, channels.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	known := map[channels.ReceiptStatus]bool{
		channels.ReceiptSent: true, channels.ReceiptDelivered: true, channels.ReceiptRead: true, channels.ReceiptFailed: true,
	}
	mac := func(body []byte) string {
		m := hmac.New(sha256.New, []byte(appSecret))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}

	f.Fuzz(func(t *testing.T, body []byte, forged, query string) {
		post := func(sig string) (channels.WebhookResponse, []channels.Receipt, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			if sig != "" {
				h.Set(whatsappcloud.SignatureHeader, sig)
			}
			return ch.Webhook(context.Background(), &channels.WebhookRequest{Method: http.MethodPost, URL: "https://sb.example.com/v1/webhooks/wa", Header: h, Body: body})
		}
		good := mac(body)

		if !strings.EqualFold(forged, good) {
			_, rs, err := post(forged)
			if !errors.Is(err, channels.ErrBadSignature) || len(rs) > 0 {
				t.Fatalf("forged signature %q: want ErrBadSignature and no receipts, got %v, %v", forged, err, rs)
			}
			if strings.Contains(err.Error(), appSecret) {
				t.Fatalf("error leaks the app secret: %v", err)
			}
		}

		resp, rs, err := post(good)
		if err != nil {
			if errors.Is(err, channels.ErrBadSignature) {
				t.Fatalf("correctly signed body refused as forged: %v", err)
			}
			if len(rs) > 0 {
				t.Fatalf("error %v with receipts %v", err, rs)
			}
		} else {
			if resp.Status != http.StatusOK {
				t.Fatalf("accepted with status %d", resp.Status)
			}
			for _, r := range rs {
				if r.ProviderID == "" || r.Channel != "wa" || !known[r.Status] || r.At.IsZero() {
					t.Fatalf("bad receipt %+v from %q", r, body)
				}
				if r.Status == channels.ReceiptFailed && r.Error == "" {
					t.Fatalf("failed receipt without an error text: %+v", r)
				}
			}
		}

		// The GET verification handshake.
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		resp, rs, err = ch.Webhook(context.Background(), &channels.WebhookRequest{Method: http.MethodGet, URL: "https://sb.example.com/v1/webhooks/wa?" + query, Header: http.Header{}, Query: q})
		if len(rs) > 0 {
			t.Fatalf("verification gave receipts: %v", rs)
		}
		if err == nil {
			if q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != verifyToken || string(resp.Body) != q.Get("hub.challenge") || resp.Body == nil {
				t.Fatalf("verification %q accepted: %+v", query, resp)
			}
		}
	})
}

package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/twilio"
)

// sign computes X-Twilio-Signature as Twilio documents it, independently of
// twilio-go: base64(HMAC-SHA1(token, URL + each POST parameter's name and
// value, sorted by name)).
func sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		for _, v := range form[k] {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

const callbackURL = "https://sb.example.com/v1/webhooks/twilio?channel=ch"

func callback(status string, extra ...string) url.Values {
	f := url.Values{
		"AccountSid":    {testSID},
		"From":          {"+15005550006"},
		"To":            {"+15551234567"},
		"MessageSid":    {"SM0123456789abcdef0123456789abcdef"},
		"SmsSid":        {"SM0123456789abcdef0123456789abcdef"},
		"SmsStatus":     {status},
		"MessageStatus": {status},
		"ApiVersion":    {"2010-04-01"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func webhookRequest(u string, form url.Values, sig string) *channels.WebhookRequest {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if sig != "" {
		h.Set(twilio.SignatureHeader, sig)
	}
	pu, _ := url.Parse(u)
	return &channels.WebhookRequest{Method: http.MethodPost, URL: u, Header: h, Query: pu.Query(), Body: []byte(form.Encode())}
}

func TestWebhookReceipts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		form      url.Values
		signedURL string // default callbackURL
		want      *channels.Receipt
	}{
		{name: "sent", form: callback("sent"), want: &channels.Receipt{Status: channels.ReceiptSent}},
		{name: "delivered", form: callback("delivered"), want: &channels.Receipt{Status: channels.ReceiptDelivered}},
		{name: "read", form: callback("read"), want: &channels.Receipt{Status: channels.ReceiptRead}},
		{name: "undelivered with code and message", form: callback("undelivered", "ErrorCode", "30003", "ErrorMessage", "Unreachable destination handset"),
			want: &channels.Receipt{Status: channels.ReceiptUndelivered, Error: "30003 Unreachable destination handset"}},
		{name: "failed with a code only", form: callback("failed", "ErrorCode", "30008"),
			want: &channels.Receipt{Status: channels.ReceiptFailed, Error: "30008"}},
		{name: "delivered ignores a stray error code", form: callback("delivered", "ErrorCode", "0"),
			want: &channels.Receipt{Status: channels.ReceiptDelivered}},
		{name: "queued is ignored", form: callback("queued")},
		{name: "accepted is ignored", form: callback("accepted")},
		{name: "sending is ignored", form: callback("sending")},
		{name: "signed with the default port", form: callback("delivered"),
			signedURL: "https://sb.example.com:443/v1/webhooks/twilio?channel=ch",
			want:      &channels.Receipt{Status: channels.ReceiptDelivered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := newChannel(t, channels.SMS, "")
			signed := tt.signedURL
			if signed == "" {
				signed = callbackURL
			}
			before := time.Now()
			resp, receipts, err := ch.Webhook(context.Background(), webhookRequest(callbackURL, tt.form, sign(testToken, signed, tt.form)))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status)
			require.Empty(t, resp.Body)
			if tt.want == nil {
				require.Empty(t, receipts)
				return
			}
			require.Len(t, receipts, 1)
			got := receipts[0]
			require.WithinRange(t, got.At, before.Add(-time.Second), time.Now().Add(time.Second))
			got.At = time.Time{}
			want := *tt.want
			want.Channel, want.ProviderID = "ch", "SM0123456789abcdef0123456789abcdef"
			require.Equal(t, want, got)
		})
	}
}

func TestWebhookRejects(t *testing.T) {
	t.Parallel()
	good := callback("delivered")
	tampered := callback("delivered")
	tampered.Set("MessageStatus", "failed")
	added := callback("delivered", "ErrorCode", "30003")
	tests := []struct {
		name    string
		url     string
		form    url.Values
		sig     string
		wantBad bool   // wraps ErrBadSignature
		wantErr string // exact text
	}{
		{name: "no signature", url: callbackURL, form: good, sig: "",
			wantBad: true, wantErr: "twilio: status callback: no X-Twilio-Signature header: webhook signature check failed"},
		{name: "garbage signature", url: callbackURL, form: good, sig: "bm90IGEgc2lnbmF0dXJl", wantBad: true,
			wantErr: "twilio: status callback: X-Twilio-Signature does not match the URL and parameters: webhook signature check failed"},
		{name: "signed with another token", url: callbackURL, form: good, sig: sign("ffffffffffffffffffffffffffffffff", callbackURL, good), wantBad: true},
		{name: "signed for another channel's URL", url: callbackURL, form: good,
			sig: sign(testToken, "https://sb.example.com/v1/webhooks/twilio?channel=other", good), wantBad: true},
		{name: "signed for another host", url: callbackURL, form: good,
			sig: sign(testToken, "https://evil.example.com/v1/webhooks/twilio?channel=ch", good), wantBad: true},
		{name: "signed over http, received as https", url: callbackURL, form: good,
			sig: sign(testToken, "http://sb.example.com/v1/webhooks/twilio?channel=ch", good), wantBad: true},
		{name: "status tampered after signing", url: callbackURL, form: tampered, sig: sign(testToken, callbackURL, good), wantBad: true},
		{name: "parameter added after signing", url: callbackURL, form: added, sig: sign(testToken, callbackURL, good), wantBad: true},
		{name: "signed but no MessageStatus", url: callbackURL, form: url.Values{"MessageSid": {"SM1"}},
			sig: sign(testToken, callbackURL, url.Values{"MessageSid": {"SM1"}}), wantErr: "twilio: status callback: no MessageStatus"},
		{name: "signed but no MessageSid", url: callbackURL, form: url.Values{"MessageStatus": {"failed"}},
			sig: sign(testToken, callbackURL, url.Values{"MessageStatus": {"failed"}}), wantErr: "twilio: status callback: failed without MessageSid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := newChannel(t, channels.SMS, "")
			_, receipts, err := ch.Webhook(context.Background(), webhookRequest(tt.url, tt.form, tt.sig))
			require.Error(t, err)
			require.Empty(t, receipts)
			require.Equal(t, tt.wantBad, errors.Is(err, channels.ErrBadSignature), err.Error())
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			}
			require.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestWebhookMalformedBody(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, channels.SMS, "")
	r := webhookRequest(callbackURL, nil, "c2ln")
	r.Body = []byte("MessageStatus=%zz")
	_, _, err := ch.Webhook(context.Background(), r)
	require.ErrorContains(t, err, "twilio: status callback: malformed form body")
	require.NotErrorIs(t, err, channels.ErrBadSignature)
}

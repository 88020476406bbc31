package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeSendRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		code  string
		field string
	}{
		{name: "minimal", body: `{"to":{"phone":"+15551234567"},"body":"hi"}`},
		{name: "all fields", body: `{"to":{"phone":"+15551234567","whatsapp":"whatsapp:+15551234567","email":"ana@example.com","telegram":"123456789"},"body":"Your code is 1","subject":"Code","html":"<p>Your code is <b>1</b></p>","policy":"otp","tags":["otp"],"ttl":"10m","callback_url":"https://app.example.com/h","metadata":{"order":"42"}}`},
		{name: "telegram username", body: `{"to":{"telegram":"@my_channel"},"body":"hi"}`},
		{name: "empty body", body: ``, code: "invalid_json"},
		{name: "malformed", body: `{"to":`, code: "invalid_json"},
		{name: "not an object", body: `[1,2]`, code: "invalid_json"},
		{name: "not json", body: `to=+15551234567`, code: "invalid_json"},
		{name: "body wrong type", body: `{"to":{"phone":"+15551234567"},"body":123456}`, code: "invalid_field", field: "body"},
		{name: "unknown field", body: `{"to":{"phone":"+15551234567"},"body":"hi","bdy":"x"}`, code: "unknown_field", field: "bdy"},
		{name: "unknown recipient field", body: `{"to":{"sms":"+15551234567"},"body":"hi"}`, code: "unknown_field", field: "to.sms"},
		{name: "to wrong type", body: `{"to":"+15551234567","body":"hi"}`, code: "invalid_field", field: "to"},
		{name: "tags wrong type", body: `{"to":{"phone":"+15551234567"},"body":"hi","tags":"otp"}`, code: "invalid_field", field: "tags"},
		{name: "phone wrong type", body: `{"to":{"phone":15551234567},"body":"hi"}`, code: "invalid_field", field: "to.phone"},
		{name: "no recipient", body: `{"to":{},"body":"hi"}`, code: "no_recipient", field: "to"},
		{name: "missing to", body: `{"body":"hi"}`, code: "no_recipient", field: "to"},
		{name: "bad phone", body: `{"to":{"phone":"5551234567"},"body":"hi"}`, code: "invalid_recipient", field: "to.phone"},
		{name: "phone with letters", body: `{"to":{"phone":"+1555CALLME"},"body":"hi"}`, code: "invalid_recipient", field: "to.phone"},
		{name: "bad whatsapp", body: `{"to":{"whatsapp":"+0123"},"body":"hi"}`, code: "invalid_recipient", field: "to.whatsapp"},
		{name: "bad email", body: `{"to":{"email":"ana@"},"body":"hi"}`, code: "invalid_recipient", field: "to.email"},
		{name: "email with display name", body: `{"to":{"email":"Ana <ana@example.com>"},"body":"hi"}`, code: "invalid_recipient", field: "to.email"},
		{name: "bad telegram", body: `{"to":{"telegram":"abc def"},"body":"hi"}`, code: "invalid_recipient", field: "to.telegram"},
		{name: "missing body", body: `{"to":{"phone":"+15551234567"}}`, code: "missing_field", field: "body"},
		{name: "blank body", body: `{"to":{"phone":"+15551234567"},"body":"  "}`, code: "missing_field", field: "body"},
		{name: "long body", body: `{"to":{"phone":"+15551234567"},"body":"` + strings.Repeat("x", maxBodyChars+1) + `"}`, code: "invalid_field", field: "body"},
		{name: "subject with newline", body: `{"to":{"phone":"+15551234567"},"body":"hi","subject":"a\nBcc: x"}`, code: "invalid_field", field: "subject"},
		{name: "bad ttl", body: `{"to":{"phone":"+15551234567"},"body":"hi","ttl":"soon"}`, code: "invalid_ttl", field: "ttl"},
		{name: "negative ttl", body: `{"to":{"phone":"+15551234567"},"body":"hi","ttl":"-1m"}`, code: "invalid_ttl", field: "ttl"},
		{name: "ttl too long", body: `{"to":{"phone":"+15551234567"},"body":"hi","ttl":"1000h"}`, code: "invalid_ttl", field: "ttl"},
		{name: "empty tag", body: `{"to":{"phone":"+15551234567"},"body":"hi","tags":["otp",""]}`, code: "invalid_field", field: "tags[1]"},
		{name: "bad callback", body: `{"to":{"phone":"+15551234567"},"body":"hi","callback_url":"ftp://x"}`, code: "invalid_field", field: "callback_url"},
		// Strict JSON (encoding/json/v2 semantics): names match exactly and
		// appear once per object.
		{name: "duplicate body", body: `{"to":{"phone":"+15551234567"},"body":"a","body":"b"}`, code: "invalid_json", field: "body"},
		{name: "duplicate in to", body: `{"to":{"phone":"+15551234567","phone":"+15557654321"},"body":"a"}`, code: "invalid_json", field: "to.phone"},
		{name: "duplicate to", body: `{"to":{"phone":"+15551234567"},"to":{"email":"ana@example.com"},"body":"a"}`, code: "invalid_json", field: "to"},
		{name: "duplicate metadata key", body: `{"to":{"phone":"+15551234567"},"body":"a","metadata":{"k":"1","k":"2"}}`, code: "invalid_json", field: "metadata.k"},
		{name: "duplicate escaped", body: `{"to":{"phone":"+15551234567"},"body":"a","b\u006fdy":"b"}`, code: "invalid_json", field: "body"},
		{name: "wrong case", body: `{"to":{"phone":"+15551234567"},"Body":"a"}`, code: "unknown_field", field: "Body"},
		{name: "wrong case beside right", body: `{"to":{"phone":"+15551234567"},"body":"a","BODY":"b"}`, code: "unknown_field", field: "BODY"},
		{name: "wrong case in to", body: `{"to":{"Phone":"+15551234567"},"body":"a"}`, code: "unknown_field", field: "to.Phone"},
		{name: "tag wrong type", body: `{"to":{"phone":"+15551234567"},"body":"hi","tags":["otp",1]}`, code: "invalid_field", field: "tags[1]"},
		{name: "numeric metadata key", body: `{"to":{"phone":"+15551234567"},"body":"hi","metadata":{"0":1}}`, code: "invalid_field", field: "metadata.0"},
		{name: "invalid utf-8", body: "{\"to\":{\"phone\":\"+15551234567\"},\"body\":\"a\xffb\"}", code: "invalid_json", field: "body"},
		{name: "trailing data", body: `{"to":{"phone":"+15551234567"},"body":"hi"} {}`, code: "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeSendRequest([]byte(tt.body))
			if tt.code == "" {
				require.NoError(t, err)
				require.NotNil(t, req)
				return
			}
			var ae *Error
			require.True(t, errors.As(err, &ae), "want *Error, got %v", err)
			require.Equal(t, tt.code, ae.Code, ae.Message)
			require.Equal(t, tt.field, ae.Field, ae.Message)
			require.Less(t, ae.Status, 500)
			require.GreaterOrEqual(t, ae.Status, 400)
			require.NotEmpty(t, ae.Message)
		})
	}
}

// The messages say what to fix: the duplicated key, and for a name in the
// wrong case the name that was meant.
func TestDecodeStrictMessages(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"to":{"phone":"+15551234567"},"body":"a","body":"b"}`:             `duplicate key "body" in the request body`,
		`{"to":{"phone":"+15551234567","phone":"+15551234567"},"body":"a"}`: `duplicate key "phone" in to`,
		`{"to":{"phone":"+15551234567"},"Body":"a"}`:                        `did you mean "body"?`,
		`{"to":{"Phone":"+15551234567"},"body":"a"}`:                        `did you mean "phone"?`,
		`{"to":{"sms":"+15551234567"},"body":"a"}`:                          `to takes phone, whatsapp, email, telegram`,
		`{"to":{"phone":"+15551234567"},"body":"a","tags":"otp"}`:           `tags must be a JSON array, not string`,
	} {
		_, err := DecodeSendRequest([]byte(body))
		var ae *Error
		require.True(t, errors.As(err, &ae), "want *Error for %s, got %v", body, err)
		require.Contains(t, ae.Message, want, body)
	}
}

func TestDecodeNormalisesWhatsAppPrefix(t *testing.T) {
	t.Parallel()
	req, err := DecodeSendRequest([]byte(`{"to":{"whatsapp":"whatsapp:+15551234567"},"body":"hi"}`))
	require.NoError(t, err)
	require.Equal(t, "+15551234567", req.To.WhatsApp)
}

func TestRequestHashIgnoresFieldOrder(t *testing.T) {
	t.Parallel()
	a, err := DecodeSendRequest([]byte(`{"to":{"phone":"+15551234567"},"body":"hi","tags":["otp"]}`))
	require.NoError(t, err)
	b, err := DecodeSendRequest([]byte(`{ "tags":["otp"], "body":"hi", "to":{"phone":"+15551234567"} }`))
	require.NoError(t, err)
	c, err := DecodeSendRequest([]byte(`{"to":{"phone":"+15551234567"},"body":"hi!","tags":["otp"]}`))
	require.NoError(t, err)
	require.Equal(t, requestHash(a, "k"), requestHash(b, "k"))
	require.NotEqual(t, requestHash(a, "k"), requestHash(c, "k"))
}

// FuzzDecodeSendRequest: no input panics, every rejection is a 4xx *Error
// naming a code, and every accepted request has a usable recipient and body.
func FuzzDecodeSendRequest(f *testing.F) {
	for _, s := range []string{
		`{"to":{"phone":"+15551234567"},"body":"hi"}`,
		`{"to":{"phone":"+15551234567","whatsapp":"+15551234567","email":"ana@example.com","telegram":"123"},"body":"b","subject":"s","policy":"otp","tags":["otp"],"ttl":"10m","callback_url":"https://a.example/h","metadata":{"k":"v"}}`,
		`{"to":{"email":"a@b.c"},"body":"\u00e9","ttl":"1h"}`,
		`{"to":{"sms":"1"}}`, `{"to":[]}`, `null`, `{}`, `{"body":1}`, `{"to":{"telegram":"@abcde"},"body":"x","tags":[""]}`,
		`{"to":{"phone":"+15551234567"},"body":"a","body":"b"}`, `{"to":{"Phone":"+15551234567"},"Body":"a"}`,
		`{"to":{"email":"a@b.c","email":"d@e.f"},"body":"x","metadata":{"k":"v","k":"w"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeSendRequest(data)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			if ae.Status < 400 || ae.Status >= 500 || ae.Code == "" {
				t.Fatalf("bad error %+v", ae)
			}
			return
		}
		if req.To.Phone == "" && req.To.WhatsApp == "" && req.To.Email == "" && req.To.Telegram == "" {
			t.Fatalf("accepted a request with no recipient: %q", data)
		}
		if strings.TrimSpace(req.Body) == "" {
			t.Fatalf("accepted a request with no body: %q", data)
		}
	})
}

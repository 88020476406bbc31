package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// otherSendKey belongs to a second app ("billing") on the privacy gateway.
const otherSendKey = "test-send-key-billing-0123"

// privacyConfig is testConfig with a second send key.
var privacyConfig = strings.Replace(testConfig,
	"    - {name: support,",
	"    - {name: billing, key: "+otherSendKey+", role: send}\n    - {name: support,", 1)

// TestSendKeySeesOnlyItsOwnMessages: a send key reads the messages it sent
// and gets, for another key's message, exactly the 404 of an id that does
// not exist; read and admin keys read every message.
func TestSendKeySeesOnlyItsOwnMessages(t *testing.T) {
	t.Parallel()
	tb := setupYAML(t, privacyConfig)

	send := func(key, body string, hdr ...string) string {
		t.Helper()
		r := tb.do(t, "POST", "/v1/messages", key, body, hdr...)
		require.Equal(t, 202, r.status, r.raw)
		return r.body["id"].(string)
	}
	// No Idempotency-Key: the sender is recorded all the same.
	shopID := send(sendKey, `{"to":{"whatsapp":"+15551230001"},"body":"shop secret 1111","metadata":{"order":"s-1"}}`)
	billingID := send(otherSendKey, `{"to":{"whatsapp":"+15551230002"},"body":"billing secret 2222","metadata":{"invoice":"b-1"}}`)

	// The 404 of an id nobody sent, to compare with byte for byte.
	missing := uuid.Must(uuid.NewV7()).String()
	absent := tb.do(t, "GET", "/v1/messages/"+missing, sendKey, "")
	require.Equal(t, 404, absent.status, absent.raw)
	code, field := errField(absent)
	require.Equal(t, [2]string{"not_found", "id"}, [2]string{code, field})

	// sameAsMissing: r is absent with only the id differing.
	sameAsMissing := func(r response, id string) {
		t.Helper()
		require.Equal(t, absent.status, r.status, r.raw)
		require.Equal(t, absent.raw, strings.ReplaceAll(r.raw, id, missing), "the body of a missing message")
		require.NotContains(t, r.raw, "secret")
		require.Equal(t, headerNames(absent.header), headerNames(r.header))
		for _, h := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Cache-Control"} {
			require.Equal(t, absent.header.Values(h), r.header.Values(h), h)
		}
	}

	for _, tc := range []struct {
		name, key, own, other string
	}{
		{"shop", sendKey, shopID, billingID},
		{"billing", otherSendKey, billingID, shopID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tb.do(t, "GET", "/v1/messages/"+tc.own, tc.key, "")
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, tc.own, r.body["id"])
			sameAsMissing(tb.do(t, "GET", "/v1/messages/"+tc.other, tc.key, ""), tc.other)
		})
	}
	for _, key := range []string{readKey, adminKey} {
		for id, body := range map[string]string{shopID: "shop secret 1111", billingID: "billing secret 2222"} {
			r := tb.do(t, "GET", "/v1/messages/"+id, key, "")
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, body, r.body["body"])
		}
	}

	// Idempotency keys are per API key: billing reusing shop's key makes a
	// message of its own, never a replay that would hand it shop's.
	shopIdem := send(sendKey, `{"to":{"whatsapp":"+15551230003"},"body":"shop secret 3333"}`, "Idempotency-Key", "order-7")
	r := tb.do(t, "POST", "/v1/messages", otherSendKey, `{"to":{"whatsapp":"+15551230003"},"body":"shop secret 3333"}`, "Idempotency-Key", "order-7")
	require.Equal(t, 202, r.status, r.raw)
	require.Empty(t, r.header.Get("Idempotent-Replay"))
	require.NotEqual(t, shopIdem, r.body["id"])
	billingIdem := r.body["id"].(string)
	// A different body under the same key is not a mismatch across keys either.
	r = tb.do(t, "POST", "/v1/messages", otherSendKey, `{"to":{"whatsapp":"+15551230004"},"body":"other"}`, "Idempotency-Key", "order-7")
	require.Equal(t, 422, r.status, "billing's own key, reused with another body: billing's mismatch")
	// Each key's replay is its own message.
	r = tb.do(t, "POST", "/v1/messages", sendKey, `{"to":{"whatsapp":"+15551230003"},"body":"shop secret 3333"}`, "Idempotency-Key", "order-7")
	require.Equal(t, "true", r.header.Get("Idempotent-Replay"))
	require.Equal(t, shopIdem, r.body["id"])
	sameAsMissing(tb.do(t, "GET", "/v1/messages/"+shopIdem, otherSendKey, ""), shopIdem)

	// The same through a batch: item keys and header keys are per API key.
	batch := func(key string, hdr ...string) []map[string]any {
		t.Helper()
		r := tb.do(t, "POST", "/v1/messages/batch", key, batchBody(
			`{"to":{"whatsapp":"+15551230003"},"body":"shop secret 3333","idempotency_key":"order-7"}`,
			`{"to":{"whatsapp":"+15551230005"},"body":"shop secret 5555"}`), hdr...)
		require.Equal(t, 200, r.status, r.raw)
		return results(t, r)
	}
	shopBatch := batch(sendKey, "Idempotency-Key", "batch-1")
	require.Equal(t, shopIdem, shopBatch[0]["id"], "shop's own replay")
	require.Equal(t, true, shopBatch[0]["idempotent_replay"])
	billingBatch := batch(otherSendKey, "Idempotency-Key", "batch-1")
	require.Equal(t, billingIdem, billingBatch[0]["id"], "billing's order-7 is billing's message")
	require.NotEqual(t, shopBatch[1]["id"], billingBatch[1]["id"], "the header key batch-1#1 is per API key")
	require.Nil(t, billingBatch[1]["idempotent_replay"])
	sameAsMissing(tb.do(t, "GET", "/v1/messages/"+shopBatch[1]["id"].(string), otherSendKey, ""), shopBatch[1]["id"].(string))

	// Listing stays closed to send keys.
	r = tb.do(t, "GET", "/v1/messages", sendKey, "")
	require.Equal(t, 403, r.status)
}

func headerNames(h http.Header) []string {
	var out []string
	for k := range h {
		if k != "Date" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestStrictJSONBodies: every JSON body the API reads refuses a key given
// twice (invalid_json naming it) and a field name in the wrong case
// (unknown_field naming it), and nothing is accepted.
func TestStrictJSONBodies(t *testing.T) {
	t.Parallel()
	tb := setupYAML(t, testConfig)
	const to = `"to":{"phone":"+15551234567","whatsapp":"+15551234567"}`
	tests := []struct {
		name, path, key, body string
		code, field           string
	}{
		{"send: duplicate body", "/v1/messages", sendKey, `{` + to + `,"body":"a","body":"b"}`, "invalid_json", "body"},
		{"send: wrong case", "/v1/messages", sendKey, `{` + to + `,"Body":"a"}`, "unknown_field", "Body"},
		{"send: wrong case beside the right one", "/v1/messages", sendKey, `{` + to + `,"body":"a","BODY":"b"}`, "unknown_field", "BODY"},
		{"send: to.Phone", "/v1/messages", sendKey, `{"to":{"Phone":"+15551234567"},"body":"a"}`, "unknown_field", "to.Phone"},
		{"send: duplicate inside to", "/v1/messages", sendKey, `{"to":{"phone":"+15551234567","phone":"+15557654321","whatsapp":"+15551234567"},"body":"a"}`, "invalid_json", "to.phone"},
		{"send: duplicate to", "/v1/messages", sendKey, `{` + to + `,` + to + `,"body":"a"}`, "invalid_json", "to"},
		{"send: duplicate metadata key", "/v1/messages", sendKey, `{` + to + `,"body":"a","metadata":{"order":"1","order":"2"}}`, "invalid_json", "metadata.order"},
		{"send: escaped duplicate", "/v1/messages", sendKey, `{` + to + `,"body":"a","\u0062ody":"b"}`, "invalid_json", "body"},
		{"explain: duplicate policy", "/v1/routes/explain", sendKey, `{` + to + `,"body":"a","policy":"otp","policy":"default"}`, "invalid_json", "policy"},
		{"explain: wrong case", "/v1/routes/explain", readKey, `{` + to + `,"body":"a","Policy":"otp"}`, "unknown_field", "Policy"},
		{"batch: duplicate messages", "/v1/messages/batch", sendKey, `{"messages":[{` + to + `,"body":"a"}],"messages":[]}`, "invalid_json", "messages"},
		{"batch: wrong case envelope", "/v1/messages/batch", sendKey, `{"Messages":[{` + to + `,"body":"a"}]}`, "unknown_field", "Messages"},
		{"batch: duplicate inside an item", "/v1/messages/batch", sendKey, batchBody(`{`+to+`,"body":"a"}`, `{`+to+`,"body":"a","body":"b"}`), "invalid_json", "messages[1].body"},
		{"batch: duplicate idempotency_key", "/v1/messages/batch", sendKey, batchBody(`{` + to + `,"body":"a","idempotency_key":"x","idempotency_key":"y"}`), "invalid_json", "messages[0].idempotency_key"},
		{"sim: wrong case", "/v1/channels/sms/sim", adminKey, `{"Mode":"down"}`, "unknown_field", "Mode"},
		{"sim: duplicate mode", "/v1/channels/sms/sim", adminKey, `{"mode":"up","mode":"down"}`, "invalid_json", "mode"},
		{"disable: wrong case", "/v1/channels/sms/disable", adminKey, `{"Reason":"x"}`, "unknown_field", "Reason"},
		{"disable: duplicate reason", "/v1/channels/sms/disable", adminKey, `{"reason":"x","reason":"y"}`, "invalid_json", "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tb.do(t, "POST", tt.path, tt.key, tt.body)
			require.Equal(t, 400, r.status, r.raw)
			code, field := errField(r)
			require.Equal(t, tt.code, code, r.raw)
			require.Equal(t, tt.field, field, r.raw)
		})
	}

	// A batch item with a field in the wrong case is refused in its own
	// result, like any other invalid item; the rest are accepted.
	r := tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(`{`+to+`,"body":"a"}`, `{`+to+`,"Body":"a"}`, `{"to":{"Phone":"+15551234567"},"body":"a"}`))
	require.Equal(t, 200, r.status, r.raw)
	res := results(t, r)
	require.Nil(t, res[0]["error"])
	for i, want := range map[int][2]string{1: {"unknown_field", "Body"}, 2: {"unknown_field", "to.Phone"}} {
		code, field := itemErr(res[i])
		require.Equal(t, want, [2]string{code, field}, "item %d: %v", i, res[i])
	}

	// Nothing refused above was stored or changed: only batch item 0.
	r = tb.do(t, "GET", "/v1/messages", readKey, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Len(t, r.body["messages"], 1)
	r = tb.do(t, "GET", "/v1/channels", readKey, "")
	require.Equal(t, 200, r.status, r.raw)
	require.NotContains(t, r.raw, `"disabled"`, "no channel was disabled")
}

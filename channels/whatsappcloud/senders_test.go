package whatsappcloud_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
)

// TestSendPhoneNumberIDsByCountry: with phone_number_ids each message is
// posted from the number kept for its destination's country, else the
// default; the result names it; without a default, a country with no
// number is refused before any call as misconfigured naming the country.
// The probe reads the default number.
func TestSendPhoneNumberIDsByCountry(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	opts := testOptions(f.srv.URL)
	opts.PhoneNumberID = ""
	opts.PhoneNumberIDs = map[string]string{"IN": testPhoneIDIN, "default": testPhoneID}
	c := newChannel(t, opts)

	for _, tc := range []struct{ to, id string }{
		{"+919876543210", testPhoneIDIN},
		{"+5511987654321", testPhoneID},
		{"+15551234567", testPhoneID},
	} {
		res, err := c.Send(t.Context(), msg(tc.to, "Your code is 123456"))
		require.NoError(t, err, tc.to)
		require.Equal(t, tc.id, res.Sender, tc.to)
	}
	f.mu.Lock()
	require.Equal(t, []string{testPhoneIDIN, testPhoneID, testPhoneID}, f.from)
	f.mu.Unlock()
	require.NoError(t, c.Probe(t.Context()))

	// Without a default.
	g := newFakeGraph(t)
	opts = testOptions(g.srv.URL)
	opts.PhoneNumberID = ""
	opts.PhoneNumberIDs = map[string]string{"IN": testPhoneIDIN}
	c = newChannel(t, opts)
	require.NoError(t, c.CheckSender("+919876543210"))
	cerr := c.CheckSender("+5511987654321") // what explanations ask (routing)
	require.True(t, errors.Is(cerr, channels.ErrNoSender), "%v", cerr)
	res, err := c.Send(t.Context(), msg("+5511987654321", "hi"))
	require.ErrorContains(t, err, cerr.Error(), "the check says what the send fails with")
	channeltest.RequireClass(t, channels.Misconfigured, err)
	require.True(t, errors.Is(err, channels.ErrNoSender))
	require.EqualError(t, err, `whatsapp-cloud: send: no sender for BR: phone_number_ids has neither BR nor "default" (misconfigured)`)
	require.Zero(t, res)
	_, hits := g.received()
	require.Zero(t, hits, "nothing is posted")
	res, err = c.Send(t.Context(), msg("+919876543210", "hi"))
	require.NoError(t, err)
	require.Equal(t, testPhoneIDIN, res.Sender)
	require.NoError(t, c.Probe(t.Context()), "the probe reads the only number")
}

// Receipts for any of the channel's numbers are its own; a number that is
// not one of them is still ignored.
func TestWebhookAcceptsEveryPhoneNumberID(t *testing.T) {
	t.Parallel()
	opts := testOptions("http://127.0.0.1:1")
	opts.PhoneNumberID = ""
	opts.PhoneNumberIDs = map[string]string{"IN": testPhoneIDIN, "default": testPhoneID}
	c := newChannel(t, opts)
	status := func(phoneID, wamid string) string {
		return `{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"` + phoneID + `"},` +
			`"statuses":[{"id":"` + wamid + `","status":"delivered","timestamp":"1750263800","recipient_id":"919876543210"}]}}`
	}
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[` +
		status(testPhoneIDIN, "wamid.IN") + "," + status(testPhoneID, "wamid.DEFAULT") + "," + status("999999999999999", "wamid.OTHER") + `]}]}`)
	resp, rs, err := c.Webhook(t.Context(), postReq(body, sign(testAppSecret, body)))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.Status)
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ProviderID)
	}
	require.Equal(t, []string{"wamid.IN", "wamid.DEFAULT"}, ids)
}

func TestPhoneNumberIDsValidation(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WA_TOKEN": testToken}
	const tok = "    token: ${WA_TOKEN}\n"
	tests := []struct{ name, options, wantErr string }{
		{"by country with a default", "    phone_number_ids: {IN: \"106540352242977\", default: 106540352242922}\n" + tok, ""},
		{"without a default", "    phone_number_ids: {IN: \"106540352242977\", BR: \"106540352242978\"}\n" + tok, ""},
		{"with phone_number_id", "    phone_number_id: \"106540352242922\"\n    phone_number_ids: {IN: \"106540352242977\"}\n" + tok,
			`sb.yaml:9: channels.wa.phone_number_ids: set "phone_number_id" or "phone_number_ids", not both: phone_number_ids picks the number by the destination's country (give it a "default" for the others)`},
		{"empty", "    phone_number_ids: {}\n" + tok,
			`sb.yaml:8: channels.wa.phone_number_ids: empty: map destination countries (and "default") to phone number ids, such as {IN: "106540352242922", default: "106540352242923"}`},
		{"bad keys and values", "    phone_number_ids:\n      UK: \"1\"\n      IN: \"+91 98765 43210\"\n" + tok,
			"sb.yaml:9: channels.wa.phone_number_ids.UK: \"UK\" is not an ISO 3166 alpha-2 country code or \"default\"; the United Kingdom is \"GB\"\n" +
				"sb.yaml:10: channels.wa.phone_number_ids.IN: must be digits only: the Graph id from WhatsApp Manager > API Setup, not the phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := buildFromYAML(t, tt.options, env)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "98765", "values are not quoted")
		})
	}
}

// Inbound messages to any of the channel's numbers are its own.
func TestWebhookInboundEveryPhoneNumberID(t *testing.T) {
	t.Parallel()
	opts := testOptions("http://127.0.0.1:1")
	opts.PhoneNumberID = ""
	opts.PhoneNumberIDs = map[string]string{"IN": testPhoneIDIN, "default": testPhoneID}
	c := newChannel(t, opts)
	for _, id := range []string{testPhoneIDIN, testPhoneID} {
		body := messagesNotification(id)
		_, _, in, err := c.WebhookInbound(t.Context(), postReq(body, sign(testAppSecret, body)))
		require.NoError(t, err)
		require.Len(t, in, 2, id)
	}
	other := messagesNotification("999999999999999")
	_, _, in, err := c.WebhookInbound(t.Context(), postReq(other, sign(testAppSecret, other)))
	require.NoError(t, err)
	require.Empty(t, in)
}

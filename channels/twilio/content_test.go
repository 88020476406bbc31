package twilio_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/twilio"
)

// testHX is a Content SID in the spec's pattern.
const testHX = "HX0123456789abcdef0123456789abcdef"

func TestBuildContentFromConfig(t *testing.T) {
	t.Parallel()
	// Lines 8-10; content keys start on line 11.
	const base = "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n    from: whatsapp:+14155238886\n"
	tests := []struct {
		name    string
		typ     string
		options string
		wantErr string // the exact text, every problem in file order
	}{
		{
			name:    "content template with variables",
			typ:     twilio.TypeWhatsApp,
			options: "    content_sid: " + testHX + "\n    content_variables:\n      \"1\": metadata.code\n      name: subject\n      msg: body\n",
		},
		{name: "content template without variables", typ: twilio.TypeWhatsApp, options: "    content_sid: " + testHX + "\n"},
		{
			name: "content_sid on twilio-sms", typ: twilio.TypeSMS,
			options: "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n    from: \"+15005550006\"\n    content_sid: " + testHX + "\n",
			wantErr: "sb.yaml:11: channels.ch.content_sid: content templates are sent by type twilio-whatsapp only; twilio-sms sends the body",
		},
		{
			name: "content_sid too short", typ: twilio.TypeWhatsApp, options: "    content_sid: HX123\n",
			wantErr: `sb.yaml:11: channels.ch.content_sid: must be HX followed by 32 hex digits (the template's Content SID in the Twilio console's Content Template Builder), got "HX123"`,
		},
		{
			name: "content_sid of another resource", typ: twilio.TypeWhatsApp, options: "    content_sid: " + testMG + "\n",
			wantErr: `sb.yaml:11: channels.ch.content_sid: must be HX followed by 32 hex digits (the template's Content SID in the Twilio console's Content Template Builder), got "` + testMG + `"`,
		},
		{
			name: "content_variables without content_sid", typ: twilio.TypeWhatsApp, options: "    content_variables: {\"1\": metadata.code}\n",
			wantErr: `sb.yaml:11: channels.ch.content_variables: needs "content_sid": the variables fill that content template`,
		},
		{
			name: "bad variable names and sources", typ: twilio.TypeWhatsApp,
			options: "    content_sid: " + testHX + "\n    content_variables:\n      \"1\": code\n      \"two words\": body\n      \"3\": metadata.\n",
			wantErr: `sb.yaml:12: channels.ch.content_variables: variable name "two words" must be 1 to 16 letters, digits or "_", like "1"` + "\n" +
				`sb.yaml:13: channels.ch.content_variables.1: must be "body", "subject" or "metadata.KEY", got "code"` + "\n" +
				`sb.yaml:15: channels.ch.content_variables.3: must be "body", "subject" or "metadata.KEY", got "metadata."`,
		},
		{
			name: "content_variables as a list", typ: twilio.TypeWhatsApp,
			options: "    content_sid: " + testHX + "\n    content_variables: [metadata.code]\n",
			wantErr: "sb.yaml:12: channels.ch.content_variables: expected a mapping, got a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			options := tt.options
			if tt.typ == twilio.TypeWhatsApp {
				options = base + options
			}
			ch, err := buildFromYAML(t, tt.typ, options)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				channeltest.RequireNoSecret(t, secrets, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, channels.WhatsApp, ch.Kind())
		})
	}
}

func TestNewValidatesContent(t *testing.T) {
	t.Parallel()
	_, err := twilio.New("ch", channels.WhatsApp, twilio.Options{AccountSID: testSID, AuthToken: testToken, From: "whatsapp:+14155238886",
		ContentSID: testHX, ContentVariables: map[string]string{"1": "metadata"}}, channels.Deps{})
	require.EqualError(t, err, `content_variables.1: must be "body", "subject" or "metadata.KEY", got "metadata"`)
}

func TestSendContentTemplate(t *testing.T) {
	t.Parallel()
	const callback = "https://sb.example.com/v1/webhooks/twilio?channel=ch"
	tests := []struct {
		name string
		vars map[string]string
		msg  *channels.Message
		want url.Values
	}{
		{
			name: "authentication template: the code",
			vars: map[string]string{"1": "metadata.code"},
			msg:  &channels.Message{ID: "m1", To: "+15551234567", Body: "Your code is 123456", Metadata: map[string]string{"code": "123456"}},
			want: url.Values{"To": {"whatsapp:+15551234567"}, "From": {"whatsapp:+14155238886"}, "ContentSid": {testHX},
				"ContentVariables": {`{"1":"123456"}`}, "StatusCallback": {callback}},
		},
		{
			name: "variables from subject, body and metadata",
			vars: map[string]string{"1": "subject", "2": "body", "order_id": "metadata.order"},
			msg: &channels.Message{To: "whatsapp:+15551234567", Subject: "Order shipped", Body: "Arrives \"tomorrow\" 📦",
				Metadata: map[string]string{"order": "42", "unused": "x"}},
			want: url.Values{"To": {"whatsapp:+15551234567"}, "From": {"whatsapp:+14155238886"}, "ContentSid": {testHX},
				"ContentVariables": {`{"1":"Order shipped","2":"Arrives \"tomorrow\" 📦","order_id":"42"}`}, "StatusCallback": {callback}},
		},
		{
			// The template replaces the body, and its limits with it.
			name: "no variables: no ContentVariables, no Body",
			msg:  &channels.Message{To: "+15551234567", Body: strings.Repeat("x", twilio.MaxBodyChars+1)},
			want: url.Values{"To": {"whatsapp:+15551234567"}, "From": {"whatsapp:+14155238886"}, "ContentSid": {testHX},
				"StatusCallback": {callback}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, answer(http.StatusCreated, messageJSON))
			ch := newChannel(t, channels.WhatsApp, f.URL, func(o *twilio.Options) { o.ContentSID, o.ContentVariables = testHX, tt.vars })
			res, err := ch.Send(context.Background(), tt.msg)
			require.NoError(t, err)
			require.Equal(t, "SM0123456789abcdef0123456789abcdef", res.ProviderID)
			require.Equal(t, "template "+testHX, res.Info)
			req := f.last(t)
			require.Equal(t, "/2010-04-01/Accounts/"+testSID+"/Messages.json", req.path)
			require.Equal(t, tt.want, req.form)
		})
	}
}

// A variable the message cannot fill fails that send as permanent, naming
// what is missing, before any call: the route moves on.
func TestSendContentTemplateMissingVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		msg     *channels.Message
		wantErr string
	}{
		{
			name: "no metadata", vars: map[string]string{"1": "metadata.code"},
			msg:     &channels.Message{To: "+15551234567", Body: "Your code is 123456"},
			wantErr: `twilio: create message: content variable "1": the message has no metadata key "code" (permanent)`,
		},
		{
			name: "empty metadata value", vars: map[string]string{"1": "metadata.code"},
			msg:     &channels.Message{To: "+15551234567", Body: "hi", Metadata: map[string]string{"code": ""}},
			wantErr: `twilio: create message: content variable "1": metadata.code is empty (permanent)`,
		},
		{
			name: "empty subject", vars: map[string]string{"1": "body", "2": "subject"},
			msg:     &channels.Message{To: "+15551234567", Body: "hi"},
			wantErr: `twilio: create message: content variable "2": subject is empty (permanent)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, answer(http.StatusCreated, messageJSON))
			ch := newChannel(t, channels.WhatsApp, f.URL, func(o *twilio.Options) { o.ContentSID, o.ContentVariables = testHX, tt.vars })
			res, err := ch.Send(context.Background(), tt.msg)
			require.Zero(t, res)
			channeltest.RequireClass(t, channels.Permanent, err)
			require.EqualError(t, err, tt.wantErr)
			channeltest.RequireNoSecret(t, secrets, err)
			require.Zero(t, f.calls.Load())
		})
	}
}

// Without content_sid a twilio-whatsapp channel sends Body as before,
// whatever metadata the message has.
func TestSendWithoutContentSendsBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, answer(http.StatusCreated, messageJSON))
	ch := newChannel(t, channels.WhatsApp, f.URL)
	_, err := ch.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "Your code is 123456",
		Metadata: map[string]string{"code": "123456"}})
	require.NoError(t, err)
	require.Equal(t, url.Values{"To": {"whatsapp:+15551234567"}, "From": {"whatsapp:+14155238886"}, "Body": {"Your code is 123456"},
		"StatusCallback": {"https://sb.example.com/v1/webhooks/twilio?channel=ch"}}, f.last(t).form)
}

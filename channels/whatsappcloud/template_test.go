package whatsappcloud_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/whatsappcloud"
)

// otpTemplate is an authentication template as Meta creates it: the code
// fills the body's {{1}} and the copy-code button (URL button 0).
func otpTemplate() *whatsappcloud.Template {
	return &whatsappcloud.Template{Name: "otp_code", Language: "en_US",
		BodyParams: []string{"metadata.code"}, ButtonParams: []string{"metadata.code"}}
}

func withTemplate(endpoint string, t *whatsappcloud.Template) whatsappcloud.Options {
	o := testOptions(endpoint)
	o.Template = t
	return o
}

func TestBuildTemplateFromConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WA_TOKEN": testToken}
	// Lines 8-10; template starts on line 11.
	const base = "    phone_number_id: \"106540352242922\"\n    token: ${WA_TOKEN}\n    endpoint: "
	tests := []struct {
		name     string
		template string
		wantErr  string // the exact text, every problem in file order
		wantJSON string // what a send of msg("+15551234567", "hi") with metadata code=123456 posts
	}{
		{
			name: "authentication template",
			template: `    template:
      name: otp_code
      language: en_US
      body_params: [metadata.code]
      button_params: [metadata.code]
`,
			wantJSON: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15551234567","type":"template","template":{"name":"otp_code","language":{"code":"en_US"},"components":[` +
				`{"type":"body","parameters":[{"type":"text","text":"123456"}]},` +
				`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"123456"}]}]}}`,
		},
		{
			name:     "template without parameters",
			template: "    template: {name: hello_world, language: en}\n",
			wantJSON: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15551234567","type":"template","template":{"name":"hello_world","language":{"code":"en"}}}`,
		},
		{
			name:     "null template: free-form text",
			template: "    template: ~\n",
			wantJSON: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15551234567","type":"text","text":{"preview_url":false,"body":"hi"}}`,
		},
		{
			name:     "template without name or language",
			template: "    template:\n      body_params: [body]\n",
			wantErr: "sb.yaml:11: channels.wa.template.name: required: the approved template's name, as in WhatsApp Manager > Message templates\n" +
				"sb.yaml:11: channels.wa.template.language: required: the language code of the template's approved translation, such as en_US",
		},
		{
			name: "every bad value at once",
			template: `    template:
      name: OTP Code
      language: en-US
      body_params:
        - metadata.code
        - Body
        - "metadata."
      button_params: [code]
`,
			wantErr: `sb.yaml:12: channels.wa.template.name: must be lowercase letters, digits and _ (at most 512), as Meta names templates, got "OTP Code"` + "\n" +
				`sb.yaml:13: channels.wa.template.language: must be a Meta language code such as en, en_US or pt_BR (with _, not -), got "en-US"` + "\n" +
				`sb.yaml:16: channels.wa.template.body_params[1]: must be "body", "subject" or "metadata.KEY", got "Body"` + "\n" +
				`sb.yaml:17: channels.wa.template.body_params[2]: must be "body", "subject" or "metadata.KEY", got "metadata."` + "\n" +
				`sb.yaml:18: channels.wa.template.button_params[0]: must be "body", "subject" or "metadata.KEY", got "code"`,
		},
		{
			name:     "misspelt template key",
			template: "    template:\n      name: otp_code\n      langauge: en_US\n",
			wantErr:  `sb.yaml:13: channels.wa.template: unknown key "langauge"; did you mean "language"?`,
		},
		{
			name:     "template as a string",
			template: "    template: otp_code\n",
			wantErr:  "sb.yaml:11: channels.wa.template: expected a mapping, got a string",
		},
		{
			name:     "body_params not a list",
			template: "    template: {name: otp_code, language: en_US, body_params: metadata.code}\n",
			wantErr:  "sb.yaml:11: channels.wa.template.body_params: expected a list, got a string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			ch, err := buildFromYAML(t, base+f.srv.URL+"\n"+tt.template, env)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.Nil(t, ch)
				channeltest.RequireNoSecret(t, secrets, err)
				return
			}
			require.NoError(t, err)
			m := msg("+15551234567", "hi")
			m.Metadata = map[string]string{"code": "123456"}
			_, err = ch.Send(t.Context(), m)
			require.NoError(t, err)
			require.Equal(t, []string{tt.wantJSON}, f.receivedJSON())
		})
	}
}

func TestNewValidatesTemplate(t *testing.T) {
	t.Parallel()
	_, err := whatsappcloud.New("wa", withTemplate("https://graph.facebook.com", &whatsappcloud.Template{Language: "en_US"}), channels.Deps{})
	require.EqualError(t, err, "template.name: required: the approved template's name, as in WhatsApp Manager > Message templates")
}

func TestSendTemplate(t *testing.T) {
	t.Parallel()
	const head = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15551234567","type":"template","template":`
	tests := []struct {
		name     string
		template *whatsappcloud.Template
		msg      *channels.Message
		wantJSON string
	}{
		{
			name:     "authentication template: the code twice",
			template: otpTemplate(),
			msg:      &channels.Message{ID: "m1", To: "+15551234567", Body: "Your code is 123456", Metadata: map[string]string{"code": "123456"}},
			wantJSON: head + `{"name":"otp_code","language":{"code":"en_US"},"components":[` +
				`{"type":"body","parameters":[{"type":"text","text":"123456"}]},` +
				`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"123456"}]}]}}`,
		},
		{
			name: "body parameters in order from subject, body and metadata; two buttons",
			template: &whatsappcloud.Template{Name: "order_update", Language: "pt_BR",
				BodyParams:   []string{"subject", "body", "metadata.order"},
				ButtonParams: []string{"metadata.order", "metadata.track"}},
			msg: &channels.Message{To: "15551234567", Subject: "Pedido enviado", Body: "Chega amanhã 📦",
				Metadata: map[string]string{"order": "42", "track": "BR123", "unused": "x"}},
			wantJSON: head + `{"name":"order_update","language":{"code":"pt_BR"},"components":[` +
				`{"type":"body","parameters":[{"type":"text","text":"Pedido enviado"},{"type":"text","text":"Chega amanhã 📦"},{"type":"text","text":"42"}]},` +
				`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"42"}]},` +
				`{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"BR123"}]}]}}`,
		},
		{
			name:     "button parameter only",
			template: &whatsappcloud.Template{Name: "track_order", Language: "en", ButtonParams: []string{"metadata.track"}},
			msg:      &channels.Message{To: "+15551234567", Body: "hi", Metadata: map[string]string{"track": "A1"}},
			wantJSON: head + `{"name":"track_order","language":{"code":"en"},"components":[` +
				`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"A1"}]}]}}`,
		},
		{
			// The text limits are the free-form message's: a template
			// that does not take the body does not send it.
			name:     "body not sent: over the text limit is fine",
			template: &whatsappcloud.Template{Name: "hello_world", Language: "en_US"},
			msg:      &channels.Message{To: "+15551234567", Body: strings.Repeat("x", whatsappcloud.MaxBodyChars+1)},
			wantJSON: head + `{"name":"hello_world","language":{"code":"en_US"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			c := newChannel(t, withTemplate(f.srv.URL, tt.template))
			res, err := c.Send(t.Context(), tt.msg)
			require.NoError(t, err)
			require.Equal(t, "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0", res.ProviderID)
			require.Equal(t, "template "+tt.template.Name+", wa_id 15551234567", res.Info)
			require.Equal(t, []string{tt.wantJSON}, f.receivedJSON())
		})
	}
}

// A parameter the message cannot fill fails that send as permanent,
// naming what is missing, before any call: the route moves on.
func TestSendTemplateMissingParameter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		template *whatsappcloud.Template
		msg      *channels.Message
		wantErr  string
	}{
		{
			name: "no metadata at all", template: otpTemplate(),
			msg:     &channels.Message{To: "+15551234567", Body: "Your code is 123456"},
			wantErr: `whatsapp-cloud: send: template otp_code: body parameter {{1}}: the message has no metadata key "code" (permanent)`,
		},
		{
			name: "other metadata keys", template: otpTemplate(),
			msg:     &channels.Message{To: "+15551234567", Body: "hi", Metadata: map[string]string{"Code": "123456"}},
			wantErr: `whatsapp-cloud: send: template otp_code: body parameter {{1}}: the message has no metadata key "code" (permanent)`,
		},
		{
			name: "empty metadata value", template: otpTemplate(),
			msg:     &channels.Message{To: "+15551234567", Body: "hi", Metadata: map[string]string{"code": ""}},
			wantErr: "whatsapp-cloud: send: template otp_code: body parameter {{1}}: metadata.code is empty (permanent)",
		},
		{
			name:     "second body parameter",
			template: &whatsappcloud.Template{Name: "order_update", Language: "en", BodyParams: []string{"body", "metadata.order"}},
			msg:      &channels.Message{To: "+15551234567", Body: "hi", Metadata: map[string]string{"code": "1"}},
			wantErr:  `whatsapp-cloud: send: template order_update: body parameter {{2}}: the message has no metadata key "order" (permanent)`,
		},
		{
			name:     "button parameter",
			template: &whatsappcloud.Template{Name: "track_order", Language: "en", BodyParams: []string{"body"}, ButtonParams: []string{"metadata.track"}},
			msg:      &channels.Message{To: "+15551234567", Body: "hi"},
			wantErr:  `whatsapp-cloud: send: template track_order: button 0 parameter: the message has no metadata key "track" (permanent)`,
		},
		{
			name:     "empty subject",
			template: &whatsappcloud.Template{Name: "order_update", Language: "en", BodyParams: []string{"subject"}},
			msg:      &channels.Message{To: "+15551234567", Body: "hi"},
			wantErr:  "whatsapp-cloud: send: template order_update: body parameter {{1}}: subject is empty (permanent)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			c := newChannel(t, withTemplate(f.srv.URL, tt.template))
			res, err := c.Send(t.Context(), tt.msg)
			require.Zero(t, res)
			channeltest.RequireClass(t, channels.Permanent, err)
			require.EqualError(t, err, tt.wantErr)
			channeltest.RequireNoSecret(t, secrets, err)
			_, hits := f.received()
			require.Zero(t, hits, "no call for a message that cannot fill the template")
		})
	}
}

// Without a template nothing changes: the same free-form text message,
// metadata or not.
func TestSendFreeFormUnchanged(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	c := newChannel(t, testOptions(f.srv.URL))
	m := msg("+15551234567", "Your code is 123456")
	m.Subject = "Sign-in code"
	m.Metadata = map[string]string{"code": "123456"}
	res, err := c.Send(t.Context(), m)
	require.NoError(t, err)
	require.Equal(t, "wa_id 15551234567", res.Info)
	require.Equal(t, []string{
		`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15551234567","type":"text","text":{"preview_url":false,"body":"Your code is 123456"}}`,
	}, f.receivedJSON())
}

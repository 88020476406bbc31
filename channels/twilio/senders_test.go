package twilio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/twilio"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

// Possible numbers in each country (libphonenumber places them there).
const (
	toUS = "+15551234567"
	toIN = "+919876543210"
	toBR = "+5511987654321"
	toGB = "+447700900123"
)

func TestSendersValidation(t *testing.T) {
	t.Parallel()
	const creds = "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n"
	tests := []struct {
		name, typ, options string
		wantErr            string // "": valid
	}{
		{name: "sender ID, number, service and default", typ: twilio.TypeSMS,
			options: "    senders: {IN: SWBOARD, US: \"+15005550006\", BR: " + testMG + ", GB: \"Shop 24\", default: \"+15005550006\"}\n"},
		{name: "whatsapp numbers and a service", typ: twilio.TypeWhatsApp,
			options: "    senders: {IN: \"whatsapp:+14155238886\", default: " + testMG + "}\n"},
		{name: "a short code", typ: twilio.TypeSMS, options: "    senders: {US: \"12345\"}\n"},
		{name: "with from", typ: twilio.TypeSMS, options: "    from: \"+15005550006\"\n    senders: {IN: SWBOARD}\n",
			wantErr: `sb.yaml:11: channels.ch.senders: set "senders" or "from"/"messaging_service_sid", not both: senders picks the sender by the destination's country (give it a "default" for the others)`},
		{name: "with messaging_service_sid", typ: twilio.TypeSMS, options: "    messaging_service_sid: " + testMG + "\n    senders: {IN: SWBOARD}\n",
			wantErr: `sb.yaml:11: channels.ch.senders: set "senders" or "from"/"messaging_service_sid", not both: senders picks the sender by the destination's country (give it a "default" for the others)`},
		{name: "empty", typ: twilio.TypeSMS, options: "    senders: {}\n",
			wantErr: `sb.yaml:10: channels.ch.senders: empty: map destination countries (and "default") to senders, such as {IN: "SWBOARD", default: "+15005550006"}`},
		{name: "bad country keys", typ: twilio.TypeSMS, options: "    senders:\n      UK: SWBOARD\n      in: SWBOARD\n      Default: \"+15005550006\"\n",
			wantErr: "sb.yaml:11: channels.ch.senders.UK: \"UK\" is not an ISO 3166 alpha-2 country code or \"default\"; the United Kingdom is \"GB\"\n" +
				"sb.yaml:12: channels.ch.senders.in: \"in\" is not an ISO 3166 alpha-2 country code or \"default\"; write it in capitals: \"IN\"\n" +
				"sb.yaml:13: channels.ch.senders.Default: \"Default\" is not an ISO 3166 alpha-2 country code or \"default\"; write it \"default\""},
		{name: "sender ID too long, digits only, bad characters", typ: twilio.TypeSMS,
			options: "    senders:\n      IN: SWITCHBOARD1\n      DE: \"0123456789\"\n      FR: \"Shop-24\"\n",
			wantErr: "sb.yaml:11: channels.ch.senders.IN: \"SWITCHBOARD1\" is not an alphanumeric sender ID (1 to 11 letters, digits and spaces, at least one letter), an E.164 number such as +14155552671, a short code or a messaging service SID (MG followed by 32 hex digits)\n" +
				"sb.yaml:12: channels.ch.senders.DE: \"0123456789\" is not an alphanumeric sender ID (1 to 11 letters, digits and spaces, at least one letter), an E.164 number such as +14155552671, a short code or a messaging service SID (MG followed by 32 hex digits)\n" +
				"sb.yaml:13: channels.ch.senders.FR: \"Shop-24\" is not an alphanumeric sender ID (1 to 11 letters, digits and spaces, at least one letter), an E.164 number such as +14155552671, a short code or a messaging service SID (MG followed by 32 hex digits)"},
		{name: "bad messaging service SID", typ: twilio.TypeSMS, options: "    senders: {BR: MG0123456789abcdef}\n",
			wantErr: `sb.yaml:10: channels.ch.senders.BR: "MG0123456789abcdef" looks like a messaging service SID but is not MG followed by 32 hex digits`},
		{name: "sender ID on whatsapp", typ: twilio.TypeWhatsApp, options: "    senders: {IN: SWBOARD}\n",
			wantErr: `sb.yaml:10: channels.ch.senders.IN: "SWBOARD" is not a WhatsApp sender: want whatsapp:+E164 or +E164, e.g. whatsapp:+14155238886`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := buildFromYAML(t, tt.typ, creds+tt.options)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

// recorder sits between the channel and Prism and keeps each Create
// Message form: Prism checks the request against Twilio's spec, the
// recorder shows which sender went.
type recorder struct {
	mu    sync.Mutex
	forms []url.Values
}

func (r *recorder) serve(t *testing.T, target string) string {
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			body, err := io.ReadAll(req.Body)
			if err == nil {
				form, _ := url.ParseQuery(string(body))
				r.mu.Lock()
				r.forms = append(r.forms, form)
				r.mu.Unlock()
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (r *recorder) take() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.forms
	r.forms = nil
	return out
}

// TestPrismSendersByCountry: each destination's country picks its sender,
// sent as From (a sender ID, a number) or as MessagingServiceSid (a
// service), never both; requests pass Prism's checks against Twilio's
// spec, and the result names the sender used. A country without a sender
// and no default is refused before any request, as misconfigured naming
// the country.
func TestPrismSendersByCountry(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	const creds = "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n"
	type want struct{ from, service string }
	tests := []struct {
		name, typ, senders string
		sends              map[string]want // to -> what goes
		noSender           string          // a destination with no sender
		noSenderCountry    string
	}{
		{
			name: "sms", typ: twilio.TypeSMS,
			senders: "{IN: SWBOARD, US: \"+15005550006\", BR: " + testMG + ", default: \"+15005550009\"}",
			sends: map[string]want{
				toIN: {from: "SWBOARD"},
				toUS: {from: "+15005550006"},
				toBR: {service: testMG},
				toGB: {from: "+15005550009"},
			},
		},
		{
			name: "sms without default", typ: twilio.TypeSMS,
			senders: "{IN: \"SW BOARD\", US: " + testMG + "}",
			sends: map[string]want{
				toIN: {from: "SW BOARD"},
				toUS: {service: testMG},
			},
			noSender: toBR, noSenderCountry: "BR",
		},
		{
			name: "whatsapp", typ: twilio.TypeWhatsApp,
			senders: "{IN: \"+14155238886\", default: " + testMG + "}",
			sends: map[string]want{
				toIN:               {from: "whatsapp:+14155238886"},
				"whatsapp:" + toBR: {service: testMG},
			},
			noSender: "", noSenderCountry: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			ch, err := buildFromYAML(t, tt.typ, creds+"    senders: "+tt.senders+"\n    endpoint: "+rec.serve(t, prism)+"\n")
			require.NoError(t, err)
			check := ch.(interface{ CheckSender(to string) error }) // what explanations ask (routing)
			for to, w := range tt.sends {
				require.NoError(t, check.CheckSender(to), to)
				res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: to, Body: "Your code is 123456"})
				require.NoError(t, err, to)
				require.Equal(t, prismSID, res.ProviderID, to)
				forms := rec.take()
				require.Len(t, forms, 1, to)
				f := forms[0]
				require.Equal(t, w.from, f.Get("From"), to)
				require.Equal(t, w.service, f.Get("MessagingServiceSid"), to)
				require.Equal(t, w.from+w.service, res.Sender, "%s: the result names the sender used", to)
			}
			if tt.noSender == "" {
				return
			}
			cerr := check.CheckSender(tt.noSender)
			require.True(t, errors.Is(cerr, channels.ErrNoSender), "%v", cerr)
			res, err := ch.Send(context.Background(), &channels.Message{ID: "m2", To: tt.noSender, Body: "hi"})
			require.ErrorContains(t, err, cerr.Error(), "the check says what the send fails with")
			channeltest.RequireClass(t, channels.Misconfigured, err)
			require.True(t, errors.Is(err, channels.ErrNoSender))
			var ns *channels.NoSenderError
			require.ErrorAs(t, err, &ns)
			require.Equal(t, tt.noSenderCountry, ns.Country)
			require.EqualError(t, err, `twilio: create message: no sender for `+tt.noSenderCountry+`: senders has neither `+
				tt.noSenderCountry+` nor "default" (misconfigured)`)
			require.Empty(t, res.Sender)
			require.Empty(t, rec.take(), "nothing is sent")
			require.False(t, strings.Contains(err.Error(), tt.noSender), "the number is not in the error")
		})
	}
}

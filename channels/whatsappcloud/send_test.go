package whatsappcloud_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/whatsappcloud"
	"github.com/switchboard-gw/switchboard/config"
)

func TestSend(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	c := newChannel(t, testOptions(f.srv.URL))
	require.Equal(t, "wa", c.Name())
	require.Equal(t, channels.WhatsApp, c.Kind())

	res, err := c.Send(t.Context(), msg("+15551234567", "Your code is 123456"))
	require.NoError(t, err)
	require.Equal(t, "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0", res.ProviderID)
	require.Equal(t, "wa_id 15551234567", res.Info)
	require.False(t, res.Delivered, "delivery is reported by webhook")

	sends, _ := f.received()
	require.Len(t, sends, 1)
	require.Equal(t, "15551234567", sends[0].To)
	require.Equal(t, "Your code is 123456", *sends[0].Text.Body)
	require.False(t, *sends[0].Text.PreviewURL)
}

func TestSendEndpointTrailingSlash(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	c := newChannel(t, testOptions(f.srv.URL+"/"))
	_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
	require.NoError(t, err)
}

func TestSendRefusedBeforeCalling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, to, body, wantErr string
	}{
		{"body too long", "+15551234567", strings.Repeat("é", whatsappcloud.MaxBodyChars+1), "body is 4097 characters, the Cloud API takes at most 4096"},
		{"empty body", "+15551234567", "", "empty body"},
		{"not a phone number", "ana@example.com", "hi", `recipient "ana@example.com" is not an E.164 phone number`},
		{"too short", "+123", "hi", `recipient "+123" is not an E.164 phone number`},
		{"too long", "+1234567890123456", "hi", "is not an E.164 phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			c := newChannel(t, testOptions(f.srv.URL))
			_, err := c.Send(t.Context(), msg(tt.to, tt.body))
			channeltest.RequireClass(t, channels.Permanent, err)
			require.ErrorContains(t, err, tt.wantErr)
			channeltest.RequireNoSecret(t, secrets, err)
			_, hits := f.received()
			require.Zero(t, hits, "no call for a message that cannot go")
		})
	}
	// Exactly at the limit goes (in characters, not bytes).
	f := newFakeGraph(t)
	c := newChannel(t, testOptions(f.srv.URL))
	_, err := c.Send(t.Context(), msg("15551234567", strings.Repeat("é", whatsappcloud.MaxBodyChars)))
	require.NoError(t, err)
}

// TestSendErrorTable answers each documented Graph error code the way
// Graph does (mostly HTTP 400, with the code in the body) and checks the
// class and Error.Code.
func TestSendErrorTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		code   int // 0: no Graph body at all
		msg    string
		want   channels.Class
	}{
		// Permanent: this message, this recipient.
		{"131026 undeliverable", 400, 131026, "(#131026) Message Undeliverable.", channels.Permanent},
		// Misconfigured template: every message would fail the same way.
		{"132000 parameter count", 400, 132000, "(#132000) Number of parameters does not match the expected number of params", channels.Misconfigured},
		{"132001 no such template", 400, 132001, "(#132001) Template name does not exist in the translation", channels.Misconfigured},
		{"132015 template paused", 400, 132015, "(#132015) Template is paused", channels.Misconfigured},
		{"132016 template disabled", 400, 132016, "(#132016) Template is disabled", channels.Misconfigured},
		{"131047 re-engagement", 400, 131047, "(#131047) Re-engagement message", channels.Permanent},
		{"131051 unsupported type", 400, 131051, "(#131051) Unsupported message type", channels.Permanent},
		{"100 invalid parameter", 400, 100, "(#100) Invalid parameter", channels.Permanent},
		{"131009 parameter value", 400, 131009, "(#131009) Parameter value is not valid", channels.Permanent},
		{"131008 missing parameter", 400, 131008, "(#131008) Required parameter is missing", channels.Permanent},
		{"131030 not in allowed list", 400, 131030, "(#131030) Recipient phone number not in allowed list", channels.Permanent},
		{"131049 meta chose not to deliver", 400, 131049, "(#131049) This message was not delivered to maintain healthy ecosystem engagement.", channels.Permanent},
		{"unknown code with 400", 400, 999999, "(#999999) Something new", channels.Permanent},
		// Rate limited.
		{"130429 rate limit hit", 400, 130429, "(#130429) Rate limit hit", channels.RateLimited},
		{"131048 spam rate limit", 400, 131048, "(#131048) Spam rate limit hit", channels.RateLimited},
		{"131056 pair rate limit", 400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", channels.RateLimited},
		{"80007 WABA rate limit", 400, 80007, "(#80007) Rate limit issues", channels.RateLimited},
		{"4 too many calls", 400, 4, "(#4) Application request limit reached", channels.RateLimited},
		{"HTTP 429 no body", 429, 0, "", channels.RateLimited},
		// Misconfigured.
		{"190 token expired", 401, 190, "Error validating access token: Session has expired", channels.Misconfigured},
		{"190 with HTTP 400", 400, 190, "Error validating access token", channels.Misconfigured},
		{"10 permission denied", 403, 10, "(#10) Application does not have permission for this action", channels.Misconfigured},
		{"200 permission", 403, 200, "(#200) Permissions error", channels.Misconfigured},
		{"299 permission range", 400, 299, "(#299) Permissions error", channels.Misconfigured},
		{"0 auth exception", 400, 0, "We were unable to authenticate the app user", channels.Misconfigured},
		{"HTTP 401 no body", 401, 0, "", channels.Misconfigured},
		{"131031 account locked", 400, 131031, "(#131031) Business Account locked", channels.Misconfigured},
		{"368 policy block", 403, 368, "(#368) Temporarily blocked for policies violations", channels.Misconfigured},
		{"HTTP 403 no body", 403, 0, "", channels.Misconfigured},
		// Transient.
		{"131000 something went wrong", 500, 131000, "(#131000) Something went wrong", channels.Transient},
		{"1 api unknown", 400, 1, "An unknown error occurred", channels.Transient},
		{"2 api service", 503, 2, "An unexpected error has occurred. Please retry your request later.", channels.Transient},
		{"131016 service unavailable", 503, 131016, "(#131016) Service unavailable", channels.Transient},
		{"131000 with HTTP 400", 400, 131000, "(#131000) Something went wrong", channels.Transient},
		{"HTTP 502 html body", 502, 0, "", channels.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			f.setReply(func(w http.ResponseWriter, _ *http.Request) {
				if tt.msg == "" {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tt.status)
					fmt.Fprint(w, "<html><body>upstream trouble</body></html>")
					return
				}
				graphErr(w, tt.status, tt.code, tt.msg)
			})
			c := newChannel(t, testOptions(f.srv.URL))
			res, err := c.Send(t.Context(), msg("+15551234567", "hi"))
			require.Equal(t, channels.Result{Sender: testPhoneID}, res, "a failed call still names the number it used")
			channeltest.RequireClass(t, tt.want, err)
			channeltest.RequireNoSecret(t, secrets, err)

			var ce *channels.Error
			require.ErrorAs(t, err, &ce)
			if tt.msg != "" {
				require.Equal(t, fmt.Sprint(tt.code), ce.Code)
				require.ErrorContains(t, err, tt.msg)
				require.ErrorContains(t, err, "[fbtrace_id AbCdEfGh]")
			} else {
				require.Empty(t, ce.Code)
				require.ErrorContains(t, err, fmt.Sprintf("HTTP %d %s", tt.status, http.StatusText(tt.status)))
			}
			if tt.want == channels.RateLimited {
				require.Equal(t, whatsappcloud.DefaultRetryAfter, channels.RetryAfterOf(err))
			} else {
				require.Zero(t, channels.RetryAfterOf(err))
			}
		})
	}
}

func TestSendErrorText(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	f.setReply(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,`+
			`"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},`+
			`"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`)
	})
	c := newChannel(t, testOptions(f.srv.URL))
	_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
	require.EqualError(t, err, "whatsapp-cloud: send: HTTP 400: (#131047) Re-engagement message: "+
		"Message failed to send because more than 24 hours have passed since the customer last replied to this number. "+
		"[fbtrace_id Az8or2yhqkZfEZ-_4Qn_Bam] (permanent 131047)")
}

// A provider echoing the token must not put it on the attempt.
func TestSendRedactsEchoedToken(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	f.setReply(func(w http.ResponseWriter, _ *http.Request) {
		graphErr(w, http.StatusBadRequest, 190, "Malformed access token "+testToken)
	})
	c := newChannel(t, testOptions(f.srv.URL))
	_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
	channeltest.RequireClass(t, channels.Misconfigured, err)
	require.ErrorContains(t, err, "Malformed access token <redacted>")
	channeltest.RequireNoSecret(t, secrets, err)
}

func TestSendWrongToken(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	o := testOptions(f.srv.URL)
	o.Token = config.Secret("EAAGwrongTOKEN")
	c := newChannel(t, o)
	_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
	channeltest.RequireClass(t, channels.Misconfigured, err)
	channeltest.RequireNoSecret(t, append(secrets, "EAAGwrongTOKEN"), err)
}

func TestSendRateLimitedRetryAfter(t *testing.T) {
	t.Parallel()
	when := time.Now().Add(2 * time.Minute).UTC()
	tests := []struct {
		name       string
		status     int
		code       int
		retryAfter string
		want       time.Duration
		tolerance  time.Duration
	}{
		{"429 with seconds", 429, 0, "17", 17 * time.Second, 0},
		{"429 with http date", 429, 0, when.Format(http.TimeFormat), 2 * time.Minute, 5 * time.Second},
		{"429 without header", 429, 0, "", whatsappcloud.DefaultRetryAfter, 0},
		{"429 with junk header", 429, 0, "soon", whatsappcloud.DefaultRetryAfter, 0},
		{"130429 with header", 400, 130429, "5", 5 * time.Second, 0},
		{"130429 without header", 400, 130429, "", whatsappcloud.DefaultRetryAfter, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			f.setReply(func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.code == 0 {
					w.WriteHeader(tt.status)
					return
				}
				graphErr(w, tt.status, tt.code, "(#130429) Rate limit hit")
			})
			c := newChannel(t, testOptions(f.srv.URL))
			_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
			channeltest.RequireClass(t, channels.RateLimited, err)
			channeltest.RequireNoSecret(t, secrets, err)
			require.InDelta(t, tt.want, channels.RetryAfterOf(err), float64(tt.tolerance))
		})
	}
}

func TestSendHangAfterWriteIsAmbiguous(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	f.setReply(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newChannel(t, testOptions(f.srv.URL))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, msg("+15551234567", "hi"))
	channeltest.RequireClass(t, channels.Ambiguous, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	channeltest.RequireNoSecret(t, secrets, err)
	sends, _ := f.received()
	require.Len(t, sends, 1, "the provider did get the message")
}

func TestSendUnreadableSuccessIsAmbiguous(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not json":      "<html>ok</html>",
		"no message id": `{"messaging_product":"whatsapp","contacts":[],"messages":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			f.setReply(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })
			c := newChannel(t, testOptions(f.srv.URL))
			_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
			channeltest.RequireClass(t, channels.Ambiguous, err)
			channeltest.RequireNoSecret(t, secrets, err)
		})
	}
}

func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func TestSendRefusedIsTransient(t *testing.T) {
	t.Parallel()
	c := newChannel(t, testOptions(refusedURL(t)))
	_, err := c.Send(t.Context(), msg("+15551234567", "hi"))
	channeltest.RequireClass(t, channels.Transient, err)
	channeltest.RequireNoSecret(t, secrets, err)
}

func TestSendCancelledBeforeWriteIsTransient(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	c := newChannel(t, testOptions(f.srv.URL))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Send(ctx, msg("+15551234567", "hi"))
	channeltest.RequireClass(t, channels.Transient, err)
	require.ErrorIs(t, err, context.Canceled)
}

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply http.HandlerFunc // nil: the fake's documented success
		token string
		want  channels.Class // "" means healthy
	}{
		{name: "ok"},
		{name: "red quality still sends", reply: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"id":%q,"display_phone_number":"+1 555-010-0000","quality_rating":"RED"}`, testPhoneID)
		}},
		{name: "401 bad token", token: "EAAGwrongTOKEN", want: channels.Misconfigured},
		{name: "190 expired", reply: func(w http.ResponseWriter, _ *http.Request) {
			graphErr(w, http.StatusUnauthorized, 190, "Error validating access token: Session has expired")
		}, want: channels.Misconfigured},
		{name: "100 no such phone number id", reply: func(w http.ResponseWriter, _ *http.Request) {
			graphErr(w, http.StatusBadRequest, 100, "Unsupported get request. Object with ID '1' does not exist")
		}, want: channels.Misconfigured},
		{name: "answer for another id", reply: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"id":"999","display_phone_number":"+1 555-010-0001","quality_rating":"GREEN"}`)
		}, want: channels.Misconfigured},
		{name: "503", reply: func(w http.ResponseWriter, _ *http.Request) {
			graphErr(w, http.StatusServiceUnavailable, 2, "Service temporarily unavailable")
		}, want: channels.Transient},
		{name: "rate limited", reply: func(w http.ResponseWriter, _ *http.Request) {
			graphErr(w, http.StatusBadRequest, 80007, "(#80007) Rate limit issues")
		}, want: channels.RateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			f.setReply(tt.reply)
			o := testOptions(f.srv.URL)
			if tt.token != "" {
				o.Token = config.Secret(tt.token)
			}
			err := newChannel(t, o).Probe(t.Context())
			_, hits := f.received()
			require.Equal(t, 1, hits)
			sends, _ := f.received()
			require.Empty(t, sends, "a probe sends no message")
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			channeltest.RequireClass(t, tt.want, err)
			require.ErrorContains(t, err, "whatsapp-cloud: probe: ")
			channeltest.RequireNoSecret(t, append(secrets, tt.token), err)
		})
	}
}

func TestProbeTransportErrors(t *testing.T) {
	t.Parallel()
	err := newChannel(t, testOptions(refusedURL(t))).Probe(t.Context())
	channeltest.RequireClass(t, channels.Transient, err)
	channeltest.RequireNoSecret(t, secrets, err)

	f := newFakeGraph(t)
	f.setReply(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = newChannel(t, testOptions(f.srv.URL)).Probe(ctx)
	channeltest.RequireClass(t, channels.Transient, err) // a GET is never ambiguous
	channeltest.RequireNoSecret(t, secrets, err)
}

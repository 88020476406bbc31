package twilio_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/twilio"
	"github.com/switchboard-gw/switchboard/config"
)

// fake is a Twilio API stand-in: it records what it was sent and answers
// with the test's handler.
type fake struct {
	*httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []recorded
}

type recorded struct {
	method, path string
	form         url.Values
	user, pass   string
	host         string
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		user, pass, _ := r.BasicAuth()
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, form, user, pass, r.Host})
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.reqs)
	return f.reqs[len(f.reqs)-1]
}

// answer replies with status, headers and body.
func answer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// twilioError is Twilio's JSON error shape.
func twilioError(status, code int, msg string) http.HandlerFunc {
	return answer(status, `{"code":`+strconv.Itoa(code)+`,"message":"`+msg+`","more_info":"https://www.twilio.com/docs/errors/`+strconv.Itoa(code)+`","status":`+strconv.Itoa(status)+`}`)
}

const messageJSON = `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","num_segments":"1"}`

func newChannel(t *testing.T, kind channels.Kind, endpoint string, edit ...func(*twilio.Options)) *twilio.Channel {
	t.Helper()
	opts := twilio.Options{AccountSID: testSID, AuthToken: config.Secret(testToken), From: "+15005550006", Endpoint: endpoint}
	if kind == channels.WhatsApp {
		opts.From = "whatsapp:+14155238886"
	}
	for _, e := range edit {
		e(&opts)
	}
	ch, err := twilio.New("ch", kind, opts, channels.Deps{PublicURL: "https://sb.example.com/"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ch.Close()) })
	return ch
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		kind     channels.Kind
		edit     func(*twilio.Options)
		to, body string
		want     url.Values
		wantInfo string
	}{
		{
			name: "sms from a number",
			kind: channels.SMS, to: "+15551234567", body: "Your code is 123456",
			want: url.Values{"To": {"+15551234567"}, "From": {"+15005550006"}, "Body": {"Your code is 123456"},
				"StatusCallback": {"https://sb.example.com/v1/webhooks/twilio?channel=ch"}},
			wantInfo: "1 segment, GSM-7",
		},
		{
			name: "sms through a messaging service, unicode body",
			kind: channels.SMS, edit: func(o *twilio.Options) { o.From, o.MessagingServiceSID = "", testMG },
			to: "+15551234567", body: strings.Repeat("é", 100) + "😀",
			want: url.Values{"To": {"+15551234567"}, "MessagingServiceSid": {testMG}, "Body": {strings.Repeat("é", 100) + "😀"},
				"StatusCallback": {"https://sb.example.com/v1/webhooks/twilio?channel=ch"}},
			wantInfo: "1 segment, GSM-7",
		},
		{
			name: "whatsapp adds the prefix to To and to a bare From",
			kind: channels.WhatsApp, edit: func(o *twilio.Options) { o.From = "+14155238886" },
			to: "+15551234567", body: "Your order shipped",
			want: url.Values{"To": {"whatsapp:+15551234567"}, "From": {"whatsapp:+14155238886"}, "Body": {"Your order shipped"},
				"StatusCallback": {"https://sb.example.com/v1/webhooks/twilio?channel=ch"}},
		},
		{
			name: "whatsapp keeps a prefixed To",
			kind: channels.WhatsApp, to: "whatsapp:+15551234567", body: "hi",
			want: url.Values{"To": {"whatsapp:+15551234567"}, "From": {"whatsapp:+14155238886"}, "Body": {"hi"},
				"StatusCallback": {"https://sb.example.com/v1/webhooks/twilio?channel=ch"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, answer(http.StatusCreated, messageJSON))
			edits := []func(*twilio.Options){}
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			ch := newChannel(t, tt.kind, f.URL, edits...)
			res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: tt.to, Body: tt.body})
			require.NoError(t, err)
			require.Equal(t, "SM0123456789abcdef0123456789abcdef", res.ProviderID)
			req := f.last(t)
			require.Equal(t, http.MethodPost, req.method)
			require.Equal(t, "/2010-04-01/Accounts/"+testSID+"/Messages.json", req.path)
			require.Equal(t, testSID, req.user)
			require.Equal(t, testToken, req.pass)
			require.Equal(t, strings.TrimPrefix(f.URL, "http://"), req.host)
			require.Equal(t, tt.want, req.form)
			if tt.kind == channels.SMS {
				require.Equal(t, twilio.CountSegments(tt.body).String(), res.Info)
			} else {
				require.Empty(t, res.Info)
			}
		})
	}
}

func TestSendWithoutPublicURLSetsNoCallback(t *testing.T) {
	t.Parallel()
	f := newFake(t, answer(http.StatusCreated, messageJSON))
	ch, err := twilio.New("sms", channels.SMS, twilio.Options{AccountSID: testSID, AuthToken: config.Secret(testToken),
		From: "+15005550006", Endpoint: f.URL + "/proxy/"}, channels.Deps{})
	require.NoError(t, err)
	require.Empty(t, ch.StatusCallback())
	_, err = ch.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "hi"})
	require.NoError(t, err)
	req := f.last(t)
	require.Equal(t, "/proxy/2010-04-01/Accounts/"+testSID+"/Messages.json", req.path, "endpoint's path is a prefix")
	require.NotContains(t, req.form, "StatusCallback")
}

func TestSendRejectsBeforeCalling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, to, body, wantErr string
	}{
		{"body over 1600 characters", "+15551234567", strings.Repeat("é", 1601),
			"twilio: create message: body is 1601 characters, over Twilio's limit of 1600 (permanent)"},
		{"empty body", "+15551234567", "", "twilio: create message: empty body (permanent)"},
		{"no recipient", " ", "hi", "twilio: create message: no recipient address (permanent)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, answer(http.StatusCreated, messageJSON))
			ch := newChannel(t, channels.SMS, f.URL)
			_, err := ch.Send(context.Background(), &channels.Message{To: tt.to, Body: tt.body})
			channeltest.RequireClass(t, channels.Permanent, err)
			require.EqualError(t, err, tt.wantErr)
			require.Zero(t, f.calls.Load())
		})
	}
	// Exactly at the limit goes through.
	f := newFake(t, answer(http.StatusCreated, messageJSON))
	_, err := newChannel(t, channels.SMS, f.URL).Send(context.Background(), &channels.Message{To: "+15551234567", Body: strings.Repeat("é", 1600)})
	require.NoError(t, err)
}

func TestSendErrorClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         http.HandlerFunc
		wantClass channels.Class
		wantCode  string
		wantRetry time.Duration
		wantErr   string // exact text when set
		optedOut  bool   // errors.Is(err, channels.ErrOptedOut)
	}{
		{name: "21211 invalid To", h: twilioError(400, 21211, "The 'To' number 123 is not a valid phone number."),
			wantClass: channels.Permanent, wantCode: "21211",
			wantErr: "twilio: create message: invalid 'To' phone number: The 'To' number 123 is not a valid phone number. (permanent 21211)"},
		{name: "21614 not a mobile number", h: twilioError(400, 21614, "'To' number is not a valid mobile number"),
			wantClass: channels.Permanent, wantCode: "21614"},
		{name: "21610 unsubscribed", h: twilioError(400, 21610, "Attempt to send to unsubscribed recipient"),
			wantClass: channels.Permanent, wantCode: "21610", optedOut: true},
		{name: "21408 region not enabled", h: twilioError(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
			wantClass: channels.Permanent, wantCode: "21408"},
		{name: "63016 outside the WhatsApp window", h: twilioError(400, 63016, "Failed to send freeform message because you are outside the allowed window."),
			wantClass: channels.Permanent, wantCode: "63016"},
		{name: "63028 template parameters", h: twilioError(400, 63028, "Number of parameters provided does not match the expected number of parameters"),
			wantClass: channels.Misconfigured, wantCode: "63028"},
		{name: "63027 template not found", h: twilioError(400, 63027, "Template does not exist for a language and locale"),
			wantClass: channels.Misconfigured, wantCode: "63027"},
		{name: "63024 invalid WhatsApp recipient", h: twilioError(400, 63024, "Invalid message recipient"),
			wantClass: channels.Permanent, wantCode: "63024"},
		{name: "21617 body too long", h: twilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit."),
			wantClass: channels.Permanent, wantCode: "21617"},
		{name: "unknown code on a 400 is permanent", h: twilioError(400, 21999, "Something new"),
			wantClass: channels.Permanent, wantCode: "21999",
			wantErr: "twilio: create message: HTTP 400: Something new (permanent 21999)"},
		{name: "20429 with Retry-After", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			twilioError(429, 20429, "Too Many Requests")(w, r)
		}, wantClass: channels.RateLimited, wantCode: "20429", wantRetry: 7 * time.Second},
		{name: "20429 without Retry-After", h: twilioError(429, 20429, "Too Many Requests"),
			wantClass: channels.RateLimited, wantCode: "20429"},
		{name: "HTTP 429 with a plain body", h: answer(429, "slow down", "Retry-After", "3"),
			wantClass: channels.RateLimited, wantRetry: 3 * time.Second,
			wantErr: "twilio: create message: HTTP 429 Too Many Requests (rate_limited)"},
		{name: "20003 authenticate", h: twilioError(401, 20003, "Authenticate"),
			wantClass: channels.Misconfigured, wantCode: "20003",
			wantErr: "twilio: create message: authentication failed: check account_sid and auth_token: Authenticate (misconfigured 20003)"},
		{name: "HTTP 401 with a plain body", h: answer(401, "Unauthorized"), wantClass: channels.Misconfigured},
		{name: "HTTP 403", h: answer(403, `{"status":403,"message":"Forbidden"}`), wantClass: channels.Misconfigured},
		{name: "20404 not found", h: twilioError(404, 20404, "The requested resource was not found"),
			wantClass: channels.Misconfigured, wantCode: "20404"},
		{name: "21606 From not capable", h: twilioError(400, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account"),
			wantClass: channels.Misconfigured, wantCode: "21606"},
		{name: "63007 no WhatsApp sender", h: twilioError(400, 63007, "Twilio could not find a Channel with the specified From address"),
			wantClass: channels.Misconfigured, wantCode: "63007"},
		{name: "HTTP 500 in Twilio's shape", h: twilioError(500, 20500, "Internal Server Error"),
			wantClass: channels.Transient, wantCode: "20500"},
		{name: "HTTP 503 with an HTML page", h: answer(503, "<html>down</html>"),
			wantClass: channels.Transient, wantErr: "twilio: create message: HTTP 503 Service Unavailable (transient)"},
		{name: "HTTP 502 empty", h: answer(502, ""), wantClass: channels.Transient},
		{name: "redirect", h: answer(302, "", "Location", "https://elsewhere.example/"), wantClass: channels.Misconfigured,
			wantErr: `twilio: create message: HTTP 302 redirect to "https://elsewhere.example/": check endpoint (misconfigured)`},
		{name: "201 without a SID", h: answer(201, `{"status":"queued"}`), wantClass: channels.Ambiguous},
		{name: "201 with a truncated body", h: answer(201, `{"sid":"SM01`), wantClass: channels.Ambiguous},
		{name: "error text echoing the token is redacted", h: twilioError(400, 21211, "bad "+testToken),
			wantClass: channels.Permanent, wantCode: "21211"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.h)
			ch := newChannel(t, channels.SMS, f.URL)
			_, err := ch.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "hi"})
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			var ce *channels.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.wantCode, ce.Code)
			require.Equal(t, tt.wantRetry, channels.RetryAfterOf(err))
			require.Equal(t, tt.optedOut, errors.Is(err, channels.ErrOptedOut), "only 21610 says the recipient opted out")
			require.True(t, strings.HasPrefix(err.Error(), "twilio: create message: "), err.Error())
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			}
			if tt.wantCode != "" {
				var te *client.TwilioRestError
				require.ErrorAs(t, err, &te, "callers can still reach twilio-go's error")
			}
		})
	}
}

// refusedURL is an address nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// hang reads the whole request, then answers nothing until the client
// gives up.
func hang(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

// reset reads the whole request, then drops the connection with a TCP RST.
func reset(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func TestSendTransportFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         http.HandlerFunc // nil: connection refused
		ctx       func() (context.Context, context.CancelFunc)
		wantClass channels.Class
		wantText  string
	}{
		{name: "connection refused", wantClass: channels.Transient, wantText: "connection refused"},
		{name: "server hangs past the deadline after the request was written", h: hang,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			wantClass: channels.Ambiguous, wantText: "request sent but no answer"},
		{name: "connection reset after the request was written", h: reset,
			wantClass: channels.Ambiguous, wantText: "request sent but no answer"},
		{name: "caller gave up before the call", h: answer(201, messageJSON),
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantClass: channels.Transient, wantText: "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			endpoint := refusedURL(t)
			if tt.h != nil {
				endpoint = newFake(t, tt.h).URL
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			ch := newChannel(t, channels.SMS, endpoint)
			start := time.Now()
			_, err := ch.Send(ctx, &channels.Message{To: "+15551234567", Body: "hi"})
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			require.ErrorContains(t, err, "twilio: create message: ")
			require.ErrorContains(t, err, tt.wantText)
			require.Less(t, time.Since(start), 5*time.Second, "the ctx bounds the call")
		})
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         http.HandlerFunc // nil: connection refused
		wantClass channels.Class   // "": no error
		wantText  string
	}{
		{name: "active account", h: answer(200, `{"sid":"`+testSID+`","status":"active"}`)},
		{name: "suspended account", h: answer(200, `{"sid":"`+testSID+`","status":"suspended"}`),
			wantClass: channels.Misconfigured, wantText: "twilio: fetch account: account is suspended (misconfigured)"},
		{name: "401", h: twilioError(401, 20003, "Authenticate"), wantClass: channels.Misconfigured,
			wantText: "twilio: fetch account: authentication failed: check account_sid and auth_token: Authenticate (misconfigured 20003)"},
		{name: "503", h: answer(503, "down"), wantClass: channels.Transient, wantText: "twilio: fetch account: HTTP 503 Service Unavailable (transient)"},
		{name: "refused", wantClass: channels.Transient, wantText: "connection refused"},
		{name: "reset after write is transient for a GET", h: reset, wantClass: channels.Transient, wantText: "twilio: fetch account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			endpoint := refusedURL(t)
			var f *fake
			if tt.h != nil {
				f = newFake(t, tt.h)
				endpoint = f.URL
			}
			err := newChannel(t, channels.SMS, endpoint).Probe(context.Background())
			if tt.wantClass == "" {
				require.NoError(t, err)
				req := f.last(t)
				require.Equal(t, http.MethodGet, req.method)
				require.Equal(t, "/2010-04-01/Accounts/"+testSID+".json", req.path)
				return
			}
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			require.ErrorContains(t, err, tt.wantText)
		})
	}
}

// The probe's hang is bounded by the caller's ctx and is transient.
func TestProbeHang(t *testing.T) {
	t.Parallel()
	f := newFake(t, hang)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := newChannel(t, channels.SMS, f.URL).Probe(ctx)
	channeltest.RequireClass(t, channels.Transient, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), err.Error())
}

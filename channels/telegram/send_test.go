package telegram_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/telegram"
)

const (
	fakeToken  = "123456789:AAHsecret-Token_value"
	fakeSecret = "AAHsecret-Token_value"
)

// secrets are the strings no error may contain.
var secrets = []string{fakeToken, fakeSecret}

// botAPI is a fake Bot API: it answers every call with one canned answer
// and records what it was sent.
type botAPI struct {
	srv  *httptest.Server
	hits atomic.Int32
	last atomic.Pointer[url.Values]
	path atomic.Pointer[string]
}

type answer struct {
	status int
	header map[string]string
	body   string
	hang   bool // never answer: hold the request until the client gives up
}

func newBotAPI(t *testing.T, a answer) *botAPI {
	t.Helper()
	b := &botAPI{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		p := r.URL.Path
		b.path.Store(&p)
		if err := r.ParseForm(); err == nil {
			form := r.PostForm
			b.last.Store(&form)
		}
		if a.hang {
			<-r.Context().Done()
			return
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		if a.header["Content-Type"] == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func newChannel(t *testing.T, endpoint string, mutate ...func(*telegram.Options)) *telegram.Channel {
	t.Helper()
	opts := telegram.DefaultOptions()
	opts.Token = fakeToken
	opts.Endpoint = endpoint
	for _, f := range mutate {
		f(&opts)
	}
	ch, err := telegram.New("tg", opts, channels.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ch.Close()) })
	return ch
}

const okAnswer = `{"ok":true,"result":{"message_id":42,"date":1700000000,"chat":{"id":-1001234567890,"type":"supergroup"},"text":"hi"}}`

func TestSendRequest(t *testing.T) {
	t.Parallel()
	api := newBotAPI(t, answer{status: 200, body: okAnswer})
	ch := newChannel(t, api.srv.URL+"/proxy/", func(o *telegram.Options) {
		o.ParseMode = telegram.ParseModeHTML
		o.DisableNotification = true
	})
	res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: "@switchboard_news", Body: "2 < 3 & more"})
	require.NoError(t, err)
	require.Equal(t, "-1001234567890:42", res.ProviderID, "the numeric chat id Telegram answered with")
	require.True(t, res.Delivered)
	require.Equal(t, "12 characters, HTML", res.Info)

	require.Equal(t, "/proxy/bot"+fakeToken+"/sendMessage", *api.path.Load())
	form := *api.last.Load()
	require.Equal(t, "@switchboard_news", form.Get("chat_id"))
	require.Equal(t, "2 &lt; 3 &amp; more", form.Get("text"))
	require.Equal(t, "HTML", form.Get("parse_mode"))
	require.Equal(t, "true", form.Get("disable_notification"))
}

func TestSendRecipients(t *testing.T) {
	t.Parallel()
	tests := []struct {
		to, wantChatID string // wantChatID "" means rejected without a call
	}{
		{"123456789", "123456789"},
		{"-1001234567890", "-1001234567890"},
		{"@channel_name", "@channel_name"},
		{"", ""},
		{"0", ""},
		{"+1 555 0100", ""},
		{"@", ""},
		{"@bad name", ""},
		{"99999999999999999999", ""}, // overflows int64
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			t.Parallel()
			api := newBotAPI(t, answer{status: 200, body: okAnswer})
			ch := newChannel(t, api.srv.URL)
			_, err := ch.Send(context.Background(), &channels.Message{To: tt.to, Body: "hi"})
			if tt.wantChatID == "" {
				channeltest.RequireClass(t, channels.Permanent, err)
				require.ErrorContains(t, err, "is not a chat id")
				require.Zero(t, api.hits.Load())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantChatID, (*api.last.Load()).Get("chat_id"))
		})
	}
}

// refusedURL is a loopback address where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		answer         answer
		refused        bool
		cancelled      bool // the caller's ctx has ended before the call
		wantClass      channels.Class
		wantCode       string
		wantRetryAfter time.Duration
		wantText       string // a part of the error text
		wantAPIError   bool   // errors.As finds *tgbotapi.Error
		wantOptedOut   bool   // errors.Is(err, channels.ErrOptedOut)
	}{
		{
			name:           "429 with retry_after",
			answer:         answer{status: 429, body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 17","parameters":{"retry_after":17}}`},
			wantClass:      channels.RateLimited,
			wantCode:       "429",
			wantRetryAfter: 17 * time.Second,
			wantText:       "telegram: sendMessage: Too Many Requests: retry after 17 (rate_limited 429)",
			wantAPIError:   true,
		},
		{
			name:           "429 with only a Retry-After header",
			answer:         answer{status: 429, header: map[string]string{"Retry-After": "5"}, body: `{"ok":false,"error_code":429,"description":"Too Many Requests"}`},
			wantClass:      channels.RateLimited,
			wantCode:       "429",
			wantRetryAfter: 5 * time.Second,
			wantAPIError:   true,
		},
		{
			name:         "403 blocked by the user",
			answer:       answer{status: 403, body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`},
			wantClass:    channels.Permanent,
			wantCode:     "403",
			wantText:     "telegram: sendMessage: Forbidden: bot was blocked by the user (permanent 403)",
			wantAPIError: true,
			wantOptedOut: true,
		},
		{
			name:         "403 kicked from the group",
			answer:       answer{status: 403, body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the group chat"}`},
			wantClass:    channels.Permanent,
			wantCode:     "403",
			wantAPIError: true,
		},
		{
			name:         "400 chat not found",
			answer:       answer{status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`},
			wantClass:    channels.Permanent,
			wantCode:     "400",
			wantText:     "telegram: sendMessage: Bad Request: chat not found (permanent 400)",
			wantAPIError: true,
		},
		{
			name:         "400 group migrated to a supergroup",
			answer:       answer{status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`},
			wantClass:    channels.Permanent,
			wantCode:     "400",
			wantText:     "(the group is now supergroup -1009876543210: send to that chat id)",
			wantAPIError: true,
		},
		{
			name:         "401 bad token",
			answer:       answer{status: 401, body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`},
			wantClass:    channels.Misconfigured,
			wantCode:     "401",
			wantText:     "telegram: sendMessage: Unauthorized (check the channel's token and endpoint) (misconfigured 401)",
			wantAPIError: true,
		},
		{
			name:         "404 no Bot API here",
			answer:       answer{status: 404, body: `{"ok":false,"error_code":404,"description":"Not Found"}`},
			wantClass:    channels.Misconfigured,
			wantCode:     "404",
			wantAPIError: true,
		},
		{
			name:         "500",
			answer:       answer{status: 500, body: `{"ok":false,"error_code":500,"description":"Internal Server Error"}`},
			wantClass:    channels.Transient,
			wantCode:     "500",
			wantAPIError: true,
		},
		{
			name:      "502 from a proxy, not JSON",
			answer:    answer{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: "<html>Bad Gateway</html>"},
			wantClass: channels.Transient,
			wantCode:  "502",
			wantText:  "telegram: sendMessage: HTTP 502 with an unreadable answer",
		},
		{
			name:      "200 with a cut-off answer",
			answer:    answer{status: 200, body: `{"ok":true,"result":{"message_id":4`},
			wantClass: channels.Ambiguous,
			wantCode:  "200",
			wantText:  "telegram: sendMessage: HTTP 200 but the answer could not be read",
		},
		{
			name:      "hang after the request was written",
			answer:    answer{hang: true},
			wantClass: channels.Ambiguous,
			wantText:  "request sent but no answer",
		},
		{
			name:      "connection refused",
			refused:   true,
			wantClass: channels.Transient,
			wantText:  "connection refused",
		},
		{
			name:      "ctx ended before the call",
			answer:    answer{status: 200, body: okAnswer},
			cancelled: true,
			wantClass: channels.Transient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var api *botAPI
			endpoint := ""
			if tt.refused {
				endpoint = refusedURL(t)
			} else {
				api = newBotAPI(t, tt.answer)
				endpoint = api.srv.URL
			}
			ch := newChannel(t, endpoint)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			_, err := ch.Send(ctx, &channels.Message{To: "123456789", Body: "Your code is 123456"})
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			var ce *channels.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.wantCode, ce.Code)
			require.Equal(t, tt.wantRetryAfter, channels.RetryAfterOf(err))
			if tt.wantText != "" {
				require.ErrorContains(t, err, tt.wantText)
			}
			var apiErr *tgbotapi.Error
			require.Equal(t, tt.wantAPIError, errors.As(err, &apiErr))
			require.Equal(t, tt.wantOptedOut, errors.Is(err, channels.ErrOptedOut), "only a user who blocked the bot opted out")
			if tt.cancelled {
				require.Zero(t, api.hits.Load(), "nothing reached the provider")
			}
		})
	}
}

// The token sits in every request's path: transport errors, which quote the
// URL, must not carry it, and neither may a description that echoes it.
func TestErrorsNeverCarryTheToken(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, refusedURL(t))
	_, sendErr := ch.Send(context.Background(), &channels.Message{To: "1", Body: "hi"})
	require.ErrorContains(t, sendErr, "/bot<redacted>/sendMessage")
	probeErr := ch.Probe(context.Background())
	require.ErrorContains(t, probeErr, "/bot<redacted>/getMe")

	echo := newBotAPI(t, answer{status: 404, body: `{"ok":false,"error_code":404,"description":"Not Found: /bot` + fakeToken + `/sendMessage"}`})
	_, echoErr := newChannel(t, echo.srv.URL).Send(context.Background(), &channels.Message{To: "1", Body: "hi"})
	channeltest.RequireClass(t, channels.Misconfigured, echoErr)
	require.ErrorContains(t, echoErr, "Not Found: /bot<redacted>/sendMessage")

	hang := newBotAPI(t, answer{hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, timeoutErr := newChannel(t, hang.srv.URL).Send(ctx, &channels.Message{To: "1", Body: "hi"})
	channeltest.RequireClass(t, channels.Ambiguous, timeoutErr)

	channeltest.RequireNoSecret(t, secrets, sendErr, probeErr, echoErr, timeoutErr)
	for _, err := range []error{sendErr, probeErr, echoErr, timeoutErr} {
		require.False(t, strings.Contains(err.Error(), fakeSecret))
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answer    answer
		refused   bool
		wantClass channels.Class // "" means no error
	}{
		{"ok", answer{status: 200, body: `{"ok":true,"result":{"id":123456789,"is_bot":true,"first_name":"Switchboard","username":"sb_bot"}}`}, false, ""},
		{"401 bad token", answer{status: 401, body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`}, false, channels.Misconfigured},
		{"404 wrong endpoint", answer{status: 404, body: `{"ok":false,"error_code":404,"description":"Not Found"}`}, false, channels.Misconfigured},
		{"429", answer{status: 429, body: `{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":3}}`}, false, channels.Transient},
		{"500", answer{status: 500, body: `{"ok":false,"error_code":500,"description":"Internal Server Error"}`}, false, channels.Transient},
		{"hang", answer{hang: true}, false, channels.Transient},
		{"refused", answer{}, true, channels.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var endpoint string
			var api *botAPI
			if tt.refused {
				endpoint = refusedURL(t)
			} else {
				api = newBotAPI(t, tt.answer)
				endpoint = api.srv.URL
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := newChannel(t, endpoint).Probe(ctx)
			if tt.wantClass == "" {
				require.NoError(t, err)
				require.Equal(t, "/bot"+fakeToken+"/getMe", *api.path.Load())
				return
			}
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			require.Zero(t, channels.RetryAfterOf(err))
		})
	}
}

// Building a channel makes no call: the factory also serves `config validate`.
func TestNewMakesNoCall(t *testing.T) {
	t.Parallel()
	api := newBotAPI(t, answer{status: 200, body: okAnswer})
	newChannel(t, api.srv.URL)
	require.Zero(t, api.hits.Load())
}

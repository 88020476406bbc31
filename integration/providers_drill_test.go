package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }

const (
	sendKey = "drill-send-key-0123456789"
	readKey = "drill-read-key-0123456789"
	acctSID = "AC0123456789abcdef0123456789abcdef"
	token   = "drillAuthToken0123456789abcdef01"
)

// outageProxy stands between the gateway and the Twilio peer. "up" passes
// requests to Prism, which accepts every message and never calls back: a
// silent outage when the policy waits for receipts. "loud" answers 503 like
// a provider that is down.
type outageProxy struct {
	mode  atomic.Value // "up" or "loud"
	calls atomic.Int64
	srv   *httptest.Server
}

func newOutageProxy(t *testing.T, target string) *outageProxy {
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &outageProxy{}
	p.mode.Store("up")
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			p.calls.Add(1)
		}
		if p.mode.Load() == "loud" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"code":20500,"message":"Service unavailable","more_info":"https://www.twilio.com/docs/errors/20500","status":503}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestWhatsAppGoesSilentThenLoud runs real channel types against the real
// peers: WhatsApp (twilio-whatsapp through the outage proxy to Prism), SMS
// (twilio-sms to Prism) and email (smtp to maildev). WhatsApp first accepts
// and never delivers (silent), then fails loudly; the customer still gets
// every message on a later channel, the breaker opens after its threshold,
// and GET /v1/channels shows it.
func TestWhatsAppGoesSilentThenLoud(t *testing.T) {
	prism := testpeers.Prism(t)
	mail := testpeers.StartMailDev(t, testpeers.MailDevOptions{})
	proxy := newOutageProxy(t, prism)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	yml := fmt.Sprintf(`
server: {public_url: %q}
store: {dsn: %q}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: %s, role: send}
    - {name: support, key: %s, role: read}
channels:
  whatsapp: {type: twilio-whatsapp, account_sid: %s, auth_token: %s, from: "+14155238886", endpoint: %q,
             retry: {attempts: 1}, breaker: {failures: 3, open_for: 1h}, probe: {interval: 1h}}
  sms:      {type: twilio-sms, account_sid: %s, auth_token: %s, from: "+15005550006", endpoint: %q, probe: {interval: 1h}}
  email:    {type: smtp, host: localhost, endpoint: "127.0.0.1:%d", tls: none, from: "OTP <otp@example.com>", probe: {interval: 1h}}
policies:
  - name: otp
    route: [whatsapp, sms, email]
    receipt_timeout: {whatsapp: 300ms, sms: 300ms}
`, base, filepath.Join(t.TempDir(), "sb.db"), sendKey, readKey, acctSID, token, proxy.srv.URL, acctSID, token, prism, mail.SMTPPort)
	cfg, err := config.Parse("drill.yaml", []byte(yml))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	send := client.New(base, sendKey)
	read := client.New(base, readKey)
	post := func(i int) string {
		res, err := send.Send(context.Background(), &client.SendRequest{
			To:   client.Recipient{WhatsApp: "+15551230000", Phone: "+15551230000", Email: fmt.Sprintf("ana+%d@example.com", i)},
			Body: fmt.Sprintf("Your code is %06d", i), Subject: "Your code", Policy: "otp",
			HTML: fmt.Sprintf("<p>Your code is <b>%06d</b></p>", i),
		}, "")
		require.NoError(t, err)
		return res.ID
	}
	// waitEmail polls maildev's REST API for the message's email.
	waitEmail := func(id string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := http.Get(mail.WebURL + "/api/email")
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), id) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no email for message %s reached maildev", id)
	}
	// attempts waits until the message's email attempt is recorded: the
	// mail can reach maildev a moment before the gateway commits it.
	attempts := func(id string) *client.Message {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			m, err := read.Get(context.Background(), id)
			require.NoError(t, err)
			if n := len(m.Attempts); n > 0 && m.Attempts[n-1].Channel == "email" && m.Attempts[n-1].Status == "sent" {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %s: email attempt not recorded: %+v", id, m.Attempts)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Silent: Twilio (Prism) accepts WhatsApp and SMS, no receipt ever
	// comes; each waits out its deadline and the email reaches maildev,
	// with the message's HTML part.
	silent := post(1)
	waitEmail(silent)
	resp, err := http.Get(mail.WebURL + "/api/email")
	require.NoError(t, err)
	inbox, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(inbox), "Your code is <b>000001</b>", "the HTML alternative reached the mailbox")
	m := attempts(silent)
	require.Len(t, m.Attempts, 3, "%+v", m.Attempts)
	require.Equal(t, "whatsapp", m.Attempts[0].Channel)
	require.Equal(t, "sent", m.Attempts[0].Status)
	require.NotEmpty(t, m.Attempts[0].ProviderID, "Prism answered 201 with a Message SID")
	require.Equal(t, "no_receipt", m.Attempts[0].FailoverReason)
	require.Equal(t, "sms", m.Attempts[1].Channel)
	require.Equal(t, "no_receipt", m.Attempts[1].FailoverReason)
	require.Equal(t, "email", m.Attempts[2].Channel)
	require.Equal(t, "sent", m.Attempts[2].Status)

	// Loud: WhatsApp answers 503. The first three messages pay a failed
	// call each and open the breaker; later ones skip WhatsApp without
	// calling it.
	proxy.mode.Store("loud")
	// One at a time, so no two sends race the breaker's count.
	var ids []string
	for i := 2; i <= 6; i++ {
		id := post(i)
		waitEmail(id)
		attempts(id)
		ids = append(ids, id)
	}
	var failedCalls, skipped int
	for _, id := range ids {
		a := attempts(id).Attempts[0]
		require.Equal(t, "whatsapp", a.Channel)
		switch {
		case a.Status == "failed":
			require.Equal(t, "transient", a.ErrorClass)
			require.Equal(t, "error", a.FailoverReason)
			failedCalls++
		case a.Status == "skipped":
			require.Equal(t, "breaker_open", a.FailoverReason)
			skipped++
		default:
			t.Fatalf("unexpected whatsapp attempt %+v", a)
		}
	}
	require.Equal(t, 3, failedCalls, "exactly the breaker's threshold paid a failed call")
	require.Equal(t, 2, skipped)

	var chans struct {
		Channels []struct {
			Name, State, Breaker string
		} `json:"channels"`
	}
	require.NoError(t, read.Do(context.Background(), http.MethodGet, "/v1/channels", nil, &chans))
	require.Equal(t, "whatsapp", chans.Channels[0].Name)
	require.Equal(t, "open", chans.Channels[0].Breaker)
	require.NotEqual(t, "healthy", chans.Channels[0].State, "an open breaker is not healthy")
}

package smtp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/smtp"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

// maildevMail is the part of maildev's GET /api/email entries we check.
type maildevMail struct {
	Subject string `json:"subject"`
	From    []struct {
		Address string `json:"address"`
		Name    string `json:"name"`
	} `json:"from"`
	To []struct {
		Address string `json:"address"`
	} `json:"to"`
	Text    string            `json:"text"`
	HTML    string            `json:"html"`
	Headers map[string]string `json:"headers"`
}

// maildevFind returns the mail maildev received with this Message-ID.
func maildevFind(t *testing.T, md *testpeers.MailDev, messageID string) maildevMail {
	t.Helper()
	resp, err := http.Get(md.WebURL + "/api/email")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var all []maildevMail
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&all))
	for _, m := range all {
		if m.Headers["message-id"] == messageID {
			return m
		}
	}
	t.Fatalf("maildev has no mail with Message-ID %s among %d", messageID, len(all))
	return maildevMail{}
}

func maildevEndpoint(md *testpeers.MailDev) string {
	return fmt.Sprintf("127.0.0.1:%d", md.SMTPPort)
}

// maildev speaks plain SMTP (tls: none) and offers AUTH PLAIN and LOGIN
// when started with credentials.
func TestMailDev(t *testing.T) {
	t.Parallel()
	md := testpeers.StartMailDev(t, testpeers.MailDevOptions{})
	ch := newSMTP(t, maildevEndpoint(md), smtp.Options{TLS: smtp.TLSNone})

	tests := []struct {
		name string
		msg  channels.Message
	}{
		{"plain text", channels.Message{ID: "md-plain", To: "ana@example.com", Subject: "Your code",
			Body: "Your code is 123456"}},
		{"text and HTML", channels.Message{ID: "md-html", To: "Bo <bo@example.com>", Subject: "Order shipped",
			Body: "Order 42 shipped.", HTML: "<p>Order <b>42</b> shipped.</p>"}},
		{"subject from the body", channels.Message{ID: "md-nosubject", To: "cy@example.com",
			Body: "Your code is 654321\nIt expires in 10 minutes."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := ch.Send(ctxTimeout(t, 10*time.Second), &tt.msg)
			require.NoError(t, err)
			require.Equal(t, "<switchboard-"+tt.msg.ID+"@example.com>", res.ProviderID)
			require.False(t, res.Delivered)
			require.Contains(t, res.Info, "accepted by "+maildevEndpoint(md))

			got := maildevFind(t, md, res.ProviderID)
			wantSubject := tt.msg.Subject
			if wantSubject == "" {
				wantSubject = "Your code is 654321"
			}
			require.Equal(t, wantSubject, got.Subject)
			require.Len(t, got.From, 1)
			require.Equal(t, "alerts@example.com", got.From[0].Address)
			require.Equal(t, "Switchboard Alerts", got.From[0].Name)
			require.Len(t, got.To, 1)
			addr, _, _ := cutAngle(tt.msg.To)
			require.Equal(t, addr, got.To[0].Address)
			require.Equal(t, tt.msg.Body, trimNL(got.Text))
			require.Equal(t, tt.msg.HTML, trimNL(got.HTML))
			require.Equal(t, tt.msg.ID, got.Headers["x-switchboard-message-id"])
		})
	}

	t.Run("probe", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, ch.Probe(ctxTimeout(t, 10*time.Second)))
	})
}

func TestMailDevAuth(t *testing.T) {
	t.Parallel()
	md := testpeers.StartMailDev(t, testpeers.MailDevOptions{User: testUser, Pass: testPass})
	// tls: none lets auto pick PLAIN over plain text: maildev offers no TLS.
	good := smtp.Options{TLS: smtp.TLSNone, Username: testUser, Password: testPass}
	bad := good
	bad.Password = testPass + "-wrong"
	wrongSecrets := append([]string{string(bad.Password)}, secrets...)

	t.Run("correct credentials deliver", func(t *testing.T) {
		t.Parallel()
		for _, mech := range []string{smtp.AuthAuto, smtp.AuthPlain, smtp.AuthLogin} {
			o := good
			o.Auth = mech
			m := message("md-auth-" + mech)
			res, err := newSMTP(t, maildevEndpoint(md), o).Send(ctxTimeout(t, 10*time.Second), m)
			require.NoError(t, err, mech)
			require.Equal(t, m.ID, maildevFind(t, md, res.ProviderID).Headers["x-switchboard-message-id"])
		}
	})
	t.Run("wrong password is misconfigured", func(t *testing.T) {
		t.Parallel()
		ch := newSMTP(t, maildevEndpoint(md), bad)
		_, err := ch.Send(ctxTimeout(t, 10*time.Second), message("md-bad"))
		channeltest.RequireClass(t, channels.Misconfigured, err)
		channeltest.RequireNoSecret(t, wrongSecrets, err)
		var ce *channels.Error
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "535", ce.Code)

		perr := ch.Probe(ctxTimeout(t, 10*time.Second))
		channeltest.RequireClass(t, channels.Misconfigured, perr)
		channeltest.RequireNoSecret(t, wrongSecrets, perr)
	})
	t.Run("no credentials: 530 at MAIL FROM is misconfigured", func(t *testing.T) {
		t.Parallel()
		_, err := newSMTP(t, maildevEndpoint(md), smtp.Options{TLS: smtp.TLSNone}).
			Send(ctxTimeout(t, 10*time.Second), message("md-anon"))
		channeltest.RequireClass(t, channels.Misconfigured, err)
		var ce *channels.Error
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "530", ce.Code)
	})
	t.Run("probe", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, newSMTP(t, maildevEndpoint(md), good).Probe(ctxTimeout(t, 10*time.Second)))
	})
	t.Run("probe of a closed port is transient", func(t *testing.T) {
		t.Parallel()
		err := newSMTP(t, closedAddr(t), good).Probe(ctxTimeout(t, 10*time.Second))
		channeltest.RequireClass(t, channels.Transient, err)
	})
}

// cutAngle returns the address inside "Name <addr>", or s.
func cutAngle(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '<' {
			for j := i + 1; j < len(s); j++ {
				if s[j] == '>' {
					return s[i+1 : j], s[:i], true
				}
			}
		}
	}
	return s, "", false
}

// trimNL drops the line end a MIME part's body may end with.
func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

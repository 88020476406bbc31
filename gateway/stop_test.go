package gateway_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	twclient "github.com/twilio/twilio-go/client"
)

const (
	stopAccountSID = "AC0123456789abcdef0123456789abcdef"
	stopAuthToken  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// signTwilio signs a webhook form as Twilio does (X-Twilio-Signature: the
// URL and the sorted parameters, HMAC-SHA1 with the auth token, base64),
// and checks the result with twilio-go's own validator.
func signTwilio(t *testing.T, fullURL string, form url.Values) string {
	t.Helper()
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	params := map[string]string{}
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
		params[k] = form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(stopAuthToken))
	mac.Write([]byte(b.String()))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	v := twclient.NewRequestValidator(stopAuthToken)
	require.True(t, v.Validate(fullURL, params, sig), "signed as twilio-go validates")
	return sig
}

// TestCustomerTextsSTOP is issue 16's drill end to end: a customer's OTP
// goes by SMS; they text STOP to the sender (Twilio's incoming-message
// webhook, a signed form POST with the parameters of Twilio's docs); their
// next OTP goes by email, with opted_out on its timeline, and Twilio is
// not asked to send it; they text START and OTPs go by SMS again. The STOP
// is also stored as an inbound message.
func TestCustomerTextsSTOP(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Messages.json") {
			n := sends.Add(1)
			w.WriteHeader(http.StatusCreated)
			_, _ = fmt.Fprintf(w, `{"sid":"SM%032d","account_sid":%q,"status":"queued","num_segments":"1","price":null,"price_unit":"USD"}`, n, stopAccountSID)
			return
		}
		_, _ = io.WriteString(w, `{"sid":"`+stopAccountSID+`","status":"active"}`)
	}))
	t.Cleanup(twilio.Close)
	sms := `{type: twilio-sms, account_sid: ` + stopAccountSID + `, auth_token: ` + stopAuthToken + `, from: "+15005550006", endpoint: "` +
		twilio.URL + `", probe: {interval: 1h}}`
	base := optOutGateway(t, sms)

	const phone = "+15550100011"
	customer := `{"phone":"` + phone + `","email":"dee@example.com"}`
	send := func() string {
		status, body := call(t, http.MethodPost, base+"/v1/messages", sendKey, `{"to":`+customer+`,"body":"Your code is 123456","tags":["otp"]}`)
		require.Equal(t, http.StatusAccepted, status, "%v", body)
		return body["id"].(string)
	}
	text := func(sid, body string) {
		t.Helper()
		form := url.Values{
			"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {stopAccountSID},
			"From": {phone}, "To": {"+15005550006"}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"},
			"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
		}
		full := base + "/v1/webhooks/twilio?channel=sms"
		req, err := http.NewRequest(http.MethodPost, full, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", signTwilio(t, full, form))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	waitMessageJSON(t, base, send(), goneBy("sms"))
	require.Equal(t, int32(1), sends.Load())

	text("SM00000000000000000000000000000001", "Stop")

	m := waitMessageJSON(t, base, send(), goneBy("email"))
	as := attemptsOf(m)
	require.Len(t, as, 2, "%v", m)
	require.Equal(t, "sms", as[0]["channel"])
	require.Equal(t, "skipped", as[0]["status"])
	require.Equal(t, "opted_out", as[0]["failover_reason"], "the reason is on the timeline")
	require.Contains(t, as[0]["error"], "STOP, inbound")
	require.Equal(t, "email", as[1]["channel"])
	require.Equal(t, int32(1), sends.Load(), "Twilio was not asked to send to a number that opted out")

	status, body := call(t, http.MethodGet, base+"/v1/inbound?channel=sms", readKey, "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Contains(t, fmt.Sprint(body), "Stop", "the STOP is stored as an inbound message too")

	text("SM00000000000000000000000000000002", "START")
	waitMessageJSON(t, base, send(), goneBy("sms"))
	require.Equal(t, int32(2), sends.Load())
}

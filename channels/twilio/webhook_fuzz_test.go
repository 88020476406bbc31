package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/twilio"
	"github.com/switchboard-gw/switchboard/config"
)

const fuzzURL = "https://sb.example.com/v1/webhooks/twilio?channel=ch"

// fuzzSign signs as Twilio does, over the first value of each parameter
// (what Webhook reads and checks): base64(HMAC-SHA1(token, URL + name +
// value for each parameter, sorted by name)).
func fuzzSign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form[k][0])
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FuzzWebhook feeds arbitrary form bodies to the status callback parser:
// unsigned and forged callbacks must be refused, and correctly signed ones
// (the fuzz function signs them, so the parser behind the signature check
// is reached) must parse or be refused with an error, never panic, and
// never yield a receipt without a provider id or with an unknown status.
func FuzzWebhook(f *testing.F) {
	for _, s := range []string{
		"MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=delivered&AccountSid=" + testSID,
		"MessageSid=SM1&SmsSid=SM1&MessageStatus=undelivered&ErrorCode=30003&ErrorMessage=Unreachable+destination+handset",
		"SmsSid=SM2&MessageStatus=failed&ErrorCode=30008",
		"MessageSid=SM3&MessageStatus=read",
		"MessageSid=SM4&MessageStatus=sent&MessageStatus=failed",
		"MessageSid=&MessageStatus=delivered",
		"MessageStatus=queued",
		"MessageStatus=",
		"MessageSid=SM5&MessageStatus=delivered&ErrorCode=0",
		"%zz=1&MessageStatus=delivered",
		"a=%",
		";;;&&&==",
		"",
		"MessageSid=SM%00%ff&MessageStatus=undelivered&ErrorMessage=" + strings.Repeat("x", 300),
	} {
		f.Add([]byte(s), "", false)
		f.Add([]byte(s), "forged", true)
	}
	ch, err := twilio.New("ch", channels.SMS, twilio.Options{AccountSID: testSID, AuthToken: config.Secret(testToken), From: "+15005550006"},
		channels.Deps{PublicURL: "https://sb.example.com/", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = ch.Close() })
	known := map[channels.ReceiptStatus]bool{
		channels.ReceiptSent: true, channels.ReceiptDelivered: true, channels.ReceiptRead: true,
		channels.ReceiptUndelivered: true, channels.ReceiptFailed: true,
	}

	f.Fuzz(func(t *testing.T, body []byte, forged string, withHeader bool) {
		req := func(sig string) *channels.WebhookRequest {
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			if sig != "" {
				h.Set(twilio.SignatureHeader, sig)
			}
			u, _ := url.Parse(fuzzURL)
			return &channels.WebhookRequest{Method: http.MethodPost, URL: fuzzURL, Header: h, Query: u.Query(), Body: body}
		}
		form, parseErr := url.ParseQuery(string(body))
		good := ""
		if parseErr == nil {
			good = fuzzSign(testToken, fuzzURL, form)
		}

		// Unsigned or forged: refused, nothing parsed out.
		sig := ""
		if withHeader {
			sig = forged
		}
		if sig != good || sig == "" {
			_, rs, err := ch.Webhook(context.Background(), req(sig))
			if err == nil || len(rs) > 0 {
				t.Fatalf("unsigned/forged callback accepted: err %v, receipts %v", err, rs)
			}
			if sig == "" && !errors.Is(err, channels.ErrBadSignature) {
				t.Fatalf("no signature: want ErrBadSignature, got %v", err)
			}
			checkNoSecret(t, err)
		}
		if parseErr != nil {
			return
		}

		// Signed: the parser proper.
		resp, rs, err := ch.Webhook(context.Background(), req(good))
		checkNoSecret(t, err)
		if err != nil {
			if errors.Is(err, channels.ErrBadSignature) {
				t.Fatalf("correctly signed callback refused as forged: %v (body %q)", err, body)
			}
			if len(rs) > 0 {
				t.Fatalf("error %v with receipts %v", err, rs)
			}
			return
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("accepted with status %d", resp.Status)
		}
		if len(rs) > 1 {
			t.Fatalf("one callback gave %d receipts", len(rs))
		}
		for _, r := range rs {
			if r.ProviderID == "" || r.Channel != "ch" || !known[r.Status] || r.At.IsZero() {
				t.Fatalf("bad receipt %+v from %q", r, body)
			}
			if r.ProviderID != form.Get("MessageSid") && r.ProviderID != form.Get("SmsSid") {
				t.Fatalf("receipt provider id %q is not the callback's sid (body %q)", r.ProviderID, body)
			}
		}
	})
}

func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}

package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/testpg"
)

// admissionConfig: otp has a per-recipient limit and sends to the US and
// Great Britain only; eu never sends to Great Britain; default has neither.
const admissionConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  whatsapp: {type: sim, kind: whatsapp, latency: 0s, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, latency: 0s, probe: {interval: 1h}}
  email:    {type: sim, kind: email, latency: 0s, probe: {interval: 1h}}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms]
    limits: {per_recipient: "5/h"}
    countries: {allow: [US, GB]}
  - name: eu
    match: {tags: [eu]}
    route: [whatsapp, sms]
    countries: {deny: [GB]}
  - name: default
    route: [sms, email]
`

type reply struct {
	status     int
	retryAfter string
	code       string
	field      string
	body       map[string]any
}

func post(t *testing.T, base, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+sendKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	require.NoError(t, jsonDecode(&http.Response{Body: io.NopCloser(strings.NewReader(string(data)))}, &r.body), "%s", data)
	if e, ok := r.body["error"].(map[string]any); ok {
		r.code, _ = e["code"].(string)
		r.field, _ = e["field"].(string)
	}
	return r
}

func otp(to string) string {
	return fmt.Sprintf(`{"to":%s,"body":"Your code is 123456","tags":["otp"]}`, to)
}

// TestPerRecipientLimit: the sixth send to one number within the hour
// under a 5/h policy is refused with 429 naming "to", whichever form
// (phone, whatsapp) each send used, while other numbers and policies are
// unaffected; the count is in the store, so a restarted gateway on the
// same SQLite file still refuses; batch items are judged one by one.
func TestPerRecipientLimit(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	load := func() *config.Config {
		cfg, err := config.Parse("t.yaml", []byte(strings.ReplaceAll(admissionConfig, "%DSN%", dsn)))
		require.NoError(t, err)
		return cfg
	}
	const number = "+15551230001"
	forms := []string{
		`{"phone":"` + number + `"}`,
		`{"whatsapp":"` + number + `"}`,
		`{"phone":"` + number + `","whatsapp":"` + number + `"}`,
		`{"whatsapp":"whatsapp:` + number + `"}`,
		`{"phone":"` + number + `","email":"ana@example.com"}`,
	}
	base, stop := run(t, load())
	for i, to := range forms {
		r := post(t, base, "/v1/messages", otp(to))
		require.Equal(t, http.StatusAccepted, r.status, "send %d: %v", i+1, r.body)
	}
	r := post(t, base, "/v1/messages", otp(`{"whatsapp":"`+number+`"}`))
	require.Equal(t, http.StatusTooManyRequests, r.status, "%v", r.body)
	require.Equal(t, "recipient_rate_limited", r.code)
	require.Equal(t, "to", r.field)
	secs, err := strconv.Atoi(r.retryAfter)
	require.NoError(t, err, "Retry-After %q", r.retryAfter)
	require.True(t, secs > 0 && secs <= 3600, "Retry-After %d: when the first of the five leaves the hour", secs)

	// The email of the fifth send is a recipient of its own, with one send.
	r = post(t, base, "/v1/messages", otp(`{"email":"ANA@example.com","phone":"+15551230002"}`))
	require.Equal(t, http.StatusAccepted, r.status, "%v", r.body)
	// Another number, and the same number under a policy without a limit.
	r = post(t, base, "/v1/messages", otp(`{"phone":"+15551230003"}`))
	require.Equal(t, http.StatusAccepted, r.status, "%v", r.body)
	r = post(t, base, "/v1/messages", `{"to":{"phone":"`+number+`"},"body":"Your order shipped"}`)
	require.Equal(t, http.StatusAccepted, r.status, "%v", r.body)
	require.Equal(t, "default", r.body["policy"])

	// A batch of seven to a fresh number: each item is counted as it is
	// accepted (concurrently, as batch items are), so exactly five fit.
	items := make([]string, 7)
	for i := range items {
		items[i] = otp(`{"phone":"+15551230004"}`)
	}
	r = post(t, base, "/v1/messages/batch", `{"messages":[`+strings.Join(items, ",")+`]}`)
	require.Equal(t, http.StatusOK, r.status, "%v", r.body)
	require.EqualValues(t, 5, r.body["accepted"])
	require.EqualValues(t, 2, r.body["rejected"])
	var limited int
	for _, res := range r.body["results"].([]any) {
		if e, ok := res.(map[string]any)["error"].(map[string]any); ok {
			require.Equal(t, "recipient_rate_limited", e["code"])
			require.Equal(t, "to", e["field"])
			limited++
		}
	}
	require.Equal(t, 2, limited)
	// Each refusal is counted, by policy and reason (the single send and
	// the two batch items).
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(exposition), `switchboard_admission_refused_total{policy="otp",reason="recipient_rate_limited"} 3`)
	stop()

	// Restarted on the same file: the count is still there.
	base, stop = run(t, load())
	defer stop()
	r = post(t, base, "/v1/messages", otp(`{"phone":"`+number+`"}`))
	require.Equal(t, http.StatusTooManyRequests, r.status, "%v", r.body)
	require.Equal(t, "recipient_rate_limited", r.code)
	r = post(t, base, "/v1/messages", otp(`{"phone":"+15551230005"}`))
	require.Equal(t, http.StatusAccepted, r.status, "%v", r.body)
}

// TestDestinationCountries: a policy's allow and deny lists refuse numbers
// outside them with 422 country_not_allowed naming the field; numbers not
// possible for their country are refused under every policy; an
// unassigned test range counts as its calling code's country; explain
// names the country it decided.
func TestDestinationCountries(t *testing.T) {
	t.Parallel()
	tb := setup(t, admissionConfig, false)
	send := func(to string, tags string) reply {
		return post(t, tb.base, "/v1/messages", fmt.Sprintf(`{"to":%s,"body":"hi","tags":[%s]}`, to, tags))
	}
	tests := []struct {
		name, to, tags string
		status         int
		code, field    string
	}{
		{"allowed: US test range", `{"phone":"+15551234567"}`, `"otp"`, 202, "", ""},
		{"allowed: GB", `{"whatsapp":"+447700900123"}`, `"otp"`, 202, "", ""},
		{"not in allow: DE", `{"phone":"+4915123456789"}`, `"otp"`, 422, "country_not_allowed", "to.phone"},
		{"not in allow: whatsapp FR", `{"phone":"+15551234567","whatsapp":"+33612345678"}`, `"otp"`, 422, "country_not_allowed", "to.whatsapp"},
		{"non-geographic not in allow", `{"phone":"+80012345678"}`, `"otp"`, 422, "country_not_allowed", "to.phone"},
		{"denied: GB", `{"whatsapp":"+447700900123"}`, `"eu"`, 422, "country_not_allowed", "to.whatsapp"},
		{"not denied: DE", `{"phone":"+4915123456789"}`, `"eu"`, 202, "", ""},
		{"no countries: DE", `{"phone":"+4915123456789"}`, ``, 202, "", ""},
		{"too short", `{"phone":"+1555123456"}`, ``, 422, "invalid_recipient", "to.phone"},
		{"local only", `{"phone":"+15550001"}`, ``, 422, "invalid_recipient", "to.phone"},
		{"too long", `{"whatsapp":"+155512345678"}`, ``, 422, "invalid_recipient", "to.whatsapp"},
		{"too long GB", `{"phone":"+4477009001234"}`, `"eu"`, 422, "invalid_recipient", "to.phone"},
		{"no such calling code", `{"phone":"+2801234567"}`, ``, 422, "invalid_recipient", "to.phone"},
	}
	for _, tc := range tests {
		r := send(tc.to, tc.tags)
		require.Equal(t, tc.status, r.status, "%s: %v", tc.name, r.body)
		require.Equal(t, tc.code, r.code, tc.name)
		require.Equal(t, tc.field, r.field, tc.name)
		if tc.code == "country_not_allowed" {
			msg := r.body["error"].(map[string]any)["message"].(string)
			require.Regexp(t, `in (DE|FR|GB|001),`, msg, "%s: the message names the country", tc.name)
		}
	}

	explain := func(to, tags string) reply {
		return post(t, tb.base, "/v1/routes/explain", fmt.Sprintf(`{"to":%s,"body":"hi","tags":[%s]}`, to, tags))
	}
	r := explain(`{"phone":"+15551234567","whatsapp":"+447700900123"}`, `"otp"`)
	require.Equal(t, http.StatusOK, r.status, "%v", r.body)
	require.Equal(t, "US", r.body["country"])
	require.Equal(t, map[string]any{"phone": "US", "whatsapp": "GB"}, r.body["countries"])
	require.Equal(t, "whatsapp", r.body["channel"])
	r = explain(`{"whatsapp":"+4915123456789"}`, `"eu"`)
	require.Equal(t, http.StatusOK, r.status, "%v", r.body)
	require.Equal(t, "DE", r.body["country"])
	r = explain(`{"phone":"+4915123456789"}`, `"otp"`)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, "%v", r.body)
	require.Equal(t, "country_not_allowed", r.code)
	require.Contains(t, r.body["error"].(map[string]any)["message"], "DE")
	r = explain(`{"phone":"+1555123456"}`, ``)
	require.Equal(t, "invalid_recipient", r.code)
	r = explain(`{"email":"ana@example.com"}`, ``)
	require.Equal(t, http.StatusOK, r.status, "%v", r.body)
	require.NotContains(t, r.body, "country", "no phone number, no country")

	// A reload applies new lists at once.
	tb.write(t, strings.Replace(admissionConfig, "countries: {deny: [GB]}", "countries: {deny: [DE]}", 1))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	r = send(`{"phone":"+4915123456789"}`, `"eu"`)
	require.Equal(t, "country_not_allowed", r.code, "%v", r.body)
	r = send(`{"whatsapp":"+447700900123"}`, `"eu"`)
	require.Equal(t, http.StatusAccepted, r.status, "%v", r.body)

	// Refused sends are counted by policy; explain refuses but sends
	// nothing, so it is not counted.
	require.Equal(t, 3.0, tb.sample(t, `switchboard_admission_refused_total{policy="otp",reason="country_not_allowed"}`))
	require.Equal(t, 2.0, tb.sample(t, `switchboard_admission_refused_total{policy="eu",reason="country_not_allowed"}`))
}

// TestPerRecipientLimitSharedOnPostgres: two instances on one PostgreSQL
// database share the count, and concurrent sends to one number through
// both accept exactly the limit (each enqueue counts under a per-recipient
// advisory lock).
func TestPerRecipientLimitSharedOnPostgres(t *testing.T) {
	t.Parallel()
	yml := strings.Replace(admissionConfig, `store: {driver: sqlite, dsn: "%DSN%"}`, `store: {driver: postgres, dsn: "`+testpg.DB(t)+`"}`, 1)
	require.NotEqual(t, admissionConfig, yml)
	a := setup(t, yml, false)
	b := setup(t, yml, false)

	// Sequential: five through alternating instances, the sixth refused by both.
	const number = "+15551230001"
	for i := range 5 {
		r := post(t, []string{a.base, b.base}[i%2], "/v1/messages", otp(`{"phone":"`+number+`"}`))
		require.Equal(t, http.StatusAccepted, r.status, "send %d: %v", i+1, r.body)
	}
	for _, base := range []string{a.base, b.base} {
		r := post(t, base, "/v1/messages", otp(`{"whatsapp":"`+number+`"}`))
		require.Equal(t, http.StatusTooManyRequests, r.status, "%v", r.body)
		require.Equal(t, "recipient_rate_limited", r.code)
	}

	// Concurrent: 16 sends to a fresh number, half through each instance.
	statuses := make([]int, 16)
	errs := make([]error, len(statuses))
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { // no require here: it may not stop the test from another goroutine
			req, err := http.NewRequest(http.MethodPost, []string{a.base, b.base}[i%2]+"/v1/messages", strings.NewReader(otp(`{"phone":"+15551230009"}`)))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+sendKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			_ = resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var accepted, limited int
	for _, s := range statuses {
		switch s {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	require.Equal(t, 5, accepted, "%v", statuses)
	require.Equal(t, 11, limited, "%v", statuses)
}

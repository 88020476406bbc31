package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

// loadSpec loads and validates the embedded document (examples included).
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	require.NoError(t, err, "api/openapi.json does not load")
	require.True(t, doc.IsOpenAPI31OrLater(), "the document is OpenAPI 3.1")
	require.NoError(t, doc.Validate(loader.Context), "api/openapi.json is not a valid OpenAPI document")
	return doc
}

// startGateway runs a full gateway (SQLite in a temp dir, sim channels) on
// a loopback listener.
func startGateway(t *testing.T) (*gateway.Gateway, string) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(testConfig, "%DSN%", dsn)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return g, "http://" + ln.Addr().String()
}

// specClient sends requests to a live gateway and checks each request and
// response against the document.
type specClient struct {
	t      *testing.T
	base   string
	router routers.Router
	http   *http.Client
	seen   map[string]bool // "METHOD /path/{template}" of operations exercised
}

type call struct {
	method, path, key, body string
	hdr                     []string
	// want is the status the server must answer.
	want int
	// badRequest says the document itself must reject the request (the
	// server's refusal is one the schema expresses), so the two agree.
	badRequest bool
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (sc *specClient) do(c call) reply {
	t := sc.t
	t.Helper()
	var rd io.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, sc.base+c.path, rd)
	require.NoError(t, err)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(c.hdr); i += 2 {
		req.Header.Set(c.hdr[i], c.hdr[i+1])
	}
	route, pathParams, err := sc.router.FindRoute(req)
	require.NoError(t, err, "%s %s is not in the document", c.method, c.path)
	sc.seen[c.method+" "+route.Path] = true

	opts := &openapi3filter.Options{
		IncludeResponseStatus: true, // an undocumented status is a failure
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			scheme, tok, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
			if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
				return fmt.Errorf("no bearer token")
			}
			return nil
		},
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if c.badRequest {
		require.Error(t, reqErr, "%s %s: the server refuses this request (%d) but the document allows it", c.method, c.path, c.want)
	} else {
		require.NoError(t, reqErr, "%s %s: the document rejects a request the test means to be valid", c.method, c.path)
	}
	// ValidateRequest consumed the body; send a fresh one.
	if c.body != "" {
		req.Body = io.NopCloser(strings.NewReader(c.body))
	}
	resp, err := sc.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, c.want, resp.StatusCode, "%s %s: %s", c.method, c.path, raw)

	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	rin.SetBodyBytes(raw)
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), rin),
		"%s %s -> %d does not match the document: %s", c.method, c.path, resp.StatusCode, raw)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &r.body))
	}
	return r
}

func (r reply) code() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestOpenAPIMatchesLiveResponses drives a real gateway through every
// documented operation and validates each request and response, success
// and error, against api/openapi.json.
func TestOpenAPIMatchesLiveResponses(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	_, base := startGateway(t)
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	sc := &specClient{t: t, base: base, router: router, http: &http.Client{Timeout: 10 * time.Second}, seen: map[string]bool{}}

	// Public endpoints.
	r := sc.do(call{method: "GET", path: "/v1/openapi.json", want: 200})
	require.JSONEq(t, string(api.OpenAPI), string(r.raw), "the served document is the embedded one")
	sc.do(call{method: "GET", path: "/healthz", want: 200})
	sc.do(call{method: "GET", path: "/readyz", want: 200})
	sc.do(call{method: "GET", path: "/metrics", want: 200})

	// Send, replay, get (with attempts), list.
	full := `{"to":{"whatsapp":"+15551234567","phone":"+15551234567","email":"ana@example.com","telegram":"123456789"},` +
		`"body":"Your code is 123456","subject":"Sign-in code","tags":["otp"],"ttl":"10m",` +
		`"callback_url":"https://app.example.com/hooks/switchboard","metadata":{"order":"42"}}`
	sent := sc.do(call{method: "POST", path: "/v1/messages", key: sendKey, body: full, hdr: []string{"Idempotency-Key", "spec-1"}, want: 202})
	require.Empty(t, sent.header.Get("Idempotent-Replay"))
	replay := sc.do(call{method: "POST", path: "/v1/messages", key: sendKey, body: full, hdr: []string{"Idempotency-Key", "spec-1"}, want: 202})
	require.Equal(t, "true", replay.header.Get("Idempotent-Replay"))
	id := sent.body["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := sc.do(call{method: "GET", path: "/v1/messages/" + id, key: readKey, want: 200})
		if m.body["status"] == "delivered" {
			require.NotEmpty(t, m.body["attempts"])
			require.NotEmpty(t, m.body["cost"], "whatsapp declares a cost: the cost schemas are checked")
			break
		}
		require.True(t, time.Now().Before(deadline), "message never delivered: %s", m.raw)
		time.Sleep(10 * time.Millisecond)
	}
	sc.do(call{method: "POST", path: "/v1/messages", key: adminKey, body: otp, want: 202})
	page := sc.do(call{method: "GET", path: "/v1/messages?limit=1&status=queued", key: readKey, want: 200})
	_ = page
	page = sc.do(call{method: "GET", path: "/v1/messages?limit=1", key: readKey, want: 200})
	require.NotEmpty(t, page.body["next_cursor"])
	sc.do(call{method: "GET", path: "/v1/messages?limit=1&cursor=" + page.body["next_cursor"].(string) + "&to=%2B15551234567&channel=whatsapp&policy=otp", key: readKey, want: 200})
	sc.do(call{method: "GET", path: "/v1/messages?tag=otp&since=2026-01-01T00%3A00%3A00Z&until=2099-01-01T00%3A00%3A00Z", key: readKey, want: 200})
	sc.do(call{method: "GET", path: "/v1/inbound?limit=1&channel=sms&from=%2B15551234567&since=2026-01-01T00%3A00%3A00Z", key: readKey, want: 200})

	// Scheduled sends: stored at once, shown and listed as scheduled,
	// explained, canceled (twice: idempotent).
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	scheduled := `{"to":{"phone":"+15551234567"},"body":"Your order ships tomorrow","policy":"otp","send_at":"` + later + `",` +
		`"callback_url":"https://app.example.com/hooks/switchboard"}`
	sched := sc.do(call{method: "POST", path: "/v1/messages", key: sendKey, body: scheduled, want: 202})
	require.Equal(t, "scheduled", sched.body["status"], string(sched.raw))
	sid := sched.body["id"].(string)
	sm := sc.do(call{method: "GET", path: "/v1/messages/" + sid, key: readKey, want: 200})
	require.Equal(t, "send_at", sm.body["wait_reason"], string(sm.raw))
	sl := sc.do(call{method: "GET", path: "/v1/messages?status=scheduled", key: readKey, want: 200})
	require.Contains(t, string(sl.raw), sid)
	sx := sc.do(call{method: "POST", path: "/v1/routes/explain", key: sendKey, body: scheduled, want: 200})
	require.Equal(t, "send_at", sx.body["wait_reason"], string(sx.raw))
	c := sc.do(call{method: "POST", path: "/v1/messages/" + sid + "/cancel", key: sendKey, want: 200})
	require.Equal(t, "canceled", c.body["status"], string(c.raw))
	c = sc.do(call{method: "POST", path: "/v1/messages/" + sid + "/cancel", key: adminKey, want: 200})
	require.Equal(t, "canceled", c.body["status"], string(c.raw))

	// Channels, overrides, sim, explain.
	sc.do(call{method: "POST", path: "/v1/channels/whatsapp/disable", key: adminKey, body: `{"reason":"incident 42"}`, want: 200})
	ex := sc.do(call{method: "POST", path: "/v1/routes/explain", key: sendKey, body: otp, want: 200})
	require.Equal(t, "sms", ex.body["channel"])
	sc.do(call{method: "GET", path: "/v1/channels", key: readKey, want: 200})
	ex = sc.do(call{method: "POST", path: "/v1/routes/explain?assume_down=sms,email&assume_down=whatsapp", key: sendKey, body: otp, want: 200})
	require.Empty(t, ex.body["channel"], string(ex.raw))
	sc.do(call{method: "POST", path: "/v1/channels/whatsapp/enable", key: adminKey, want: 200})
	sc.do(call{method: "POST", path: "/v1/channels/sms/sim", key: adminKey, body: `{"mode":"down"}`, want: 200})
	sc.do(call{method: "POST", path: "/v1/channels/sms/sim", key: adminKey, body: `{"mode":"up"}`, want: 200})
	sc.do(call{method: "POST", path: "/v1/channels/sms/disable", key: adminKey, want: 200})
	sc.do(call{method: "POST", path: "/v1/channels/sms/enable", key: adminKey, want: 200})

	// The opt-out list.
	sc.do(call{method: "POST", path: "/v1/suppressions", key: adminKey, body: `{"address":"+15551230077","kind":"sms","reason":"STOP"}`, want: 201})
	sc.do(call{method: "POST", path: "/v1/suppressions", key: adminKey, body: `{"address":"Ana@Example.com","kind":"email"}`, want: 201})
	oe := sc.do(call{method: "POST", path: "/v1/routes/explain", key: sendKey, body: `{"to":{"phone":"+15551230077","email":"ana@example.com"},"body":"hi","policy":"otp"}`, want: 200})
	require.Contains(t, string(oe.raw), `"reason":"opted_out"`)
	require.Contains(t, string(oe.raw), `"sentence":"sms was skipped: the recipient opted out of it (STOP, api, since `)
	supl := sc.do(call{method: "GET", path: "/v1/suppressions?limit=1", key: readKey, want: 200})
	require.NotEmpty(t, supl.body["next_cursor"], string(supl.raw))
	sc.do(call{method: "GET", path: "/v1/suppressions?kind=sms&address=%2B15551230077&cursor=" + supl.body["next_cursor"].(string), key: readKey, want: 200})
	sc.do(call{method: "DELETE", path: "/v1/suppressions/email/ana@example.com", key: adminKey, want: 204})

	// Batch: accepted, refused and replayed items side by side.
	batch := `{"messages":[` + otp + `,` +
		`{"to":{"phone":"+15551234567"},"body":"hi","policy":"nope"},` +
		`{"to":{"email":"ana@example.com"},"body":"Your order shipped","subject":"Order 42","idempotency_key":"order-42"}]}`
	b := sc.do(call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: batch, hdr: []string{"Idempotency-Key", "batch-1"}, want: 200})
	require.EqualValues(t, 2, b.body["accepted"], string(b.raw))
	b = sc.do(call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: batch, hdr: []string{"Idempotency-Key", "batch-1"}, want: 200})
	require.Equal(t, true, b.body["results"].([]any)[0].(map[string]any)["idempotent_replay"], string(b.raw))

	// Errors: every one answers the documented shape with a documented code.
	big := `{"to":{"phone":"+15551234567"},"body":"` + strings.Repeat("x", 5000) + `"}`
	var items []string
	for range 1001 {
		items = append(items, `{"to":{"phone":"+15551234567"},"body":"x"}`)
	}
	// One send takes the capped policy's only slot for this recipient.
	sc.do(call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551239999"},"body":"hi","policy":"capped"}`, want: 202})
	errs := []struct {
		call
		code string
	}{
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"whatsapp":"+15551239999","phone":"+15551239999"},"body":"hi","policy":"capped"}`, want: 429}, "recipient_rate_limited"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+4915123456789"},"body":"hi","policy":"capped"}`, want: 422}, "country_not_allowed"},
		{call{method: "POST", path: "/v1/routes/explain", key: sendKey, body: `{"to":{"phone":"+4915123456789"},"body":"hi","policy":"capped"}`, want: 422}, "country_not_allowed"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+155512345678"},"body":"hi"}`, want: 422}, "invalid_recipient"},
		{call{method: "POST", path: "/v1/messages", body: otp, want: 401, badRequest: true}, "unauthorized"},
		{call{method: "GET", path: "/v1/channels", key: "not-a-key-not-a-key", want: 401}, "unauthorized"},
		{call{method: "POST", path: "/v1/messages", key: readKey, body: otp, want: 403}, "forbidden"},
		{call{method: "POST", path: "/v1/messages/batch", key: readKey, body: batch, want: 403}, "forbidden"},
		{call{method: "GET", path: "/v1/messages", key: sendKey, want: 403}, "forbidden"},
		{call{method: "POST", path: "/v1/channels/sms/disable", key: readKey, want: 403}, "forbidden"},
		{call{method: "GET", path: "/v1/messages/0193a7e0-0000-7000-8000-000000000000", key: readKey, want: 404}, "not_found"},
		{call{method: "POST", path: "/v1/channels/nope/enable", key: adminKey, want: 404}, "unknown_channel"},
		{call{method: "POST", path: "/v1/channels/nope/sim", key: adminKey, body: `{"mode":"up"}`, want: 404}, "unknown_channel"},
		{call{method: "POST", path: "/v1/webhooks/twilio", body: `{}`, want: 404}, "unknown_channel"},
		{call{method: "GET", path: "/v1/webhooks/whatsapp-cloud?hub.mode=subscribe", want: 404}, "unknown_channel"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: big, want: 413}, "body_too_large"},
		{call{method: "POST", path: "/v1/routes/explain", key: sendKey, body: big, want: 413}, "body_too_large"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: otp, hdr: []string{"Content-Type", "text/plain"}, want: 415, badRequest: true}, "unsupported_media_type"},
		{call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: batch, hdr: []string{"Content-Type", "text/plain"}, want: 415, badRequest: true}, "unsupported_media_type"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"12"},"body":"hi"}`, want: 422, badRequest: true}, "invalid_recipient"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{},"body":"hi"}`, want: 422, badRequest: true}, "no_recipient"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"}}`, want: 422, badRequest: true}, "missing_field"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"hi","ttl":"forever"}`, want: 422, badRequest: true}, "invalid_ttl"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"hi","policy":"nope"}`, want: 422}, "unknown_policy"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"hi","send_at":"tomorrow"}`, want: 422, badRequest: true}, "invalid_send_at"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"hi","policy":"otp","send_at":"2099-01-01T00:00:00Z"}`, want: 422}, "invalid_send_at"},
		{call{method: "POST", path: "/v1/messages/" + id + "/cancel", key: sendKey, want: 409}, "not_cancelable"},
		{call{method: "POST", path: "/v1/messages/0193a7e0-0000-7000-8000-000000000000/cancel", key: adminKey, want: 404}, "not_found"},
		{call{method: "POST", path: "/v1/messages/" + id + "/cancel", key: readKey, want: 403}, "forbidden"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"telegram":"12345"},"body":"hi"}`, want: 422}, "no_route"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: otp, hdr: []string{"Idempotency-Key", "spec-1"}, want: 422}, "idempotency_mismatch"},
		{call{method: "POST", path: "/v1/routes/explain", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"hi","policy":"nope"}`, want: 422}, "unknown_policy"},
		{call{method: "POST", path: "/v1/routes/explain?assume_down=pigeon", key: sendKey, body: otp, want: 422}, "unknown_channel"},
		// The test gateway has no config file to reload.
		{call{method: "POST", path: "/-/reload", key: adminKey, want: 409}, "reload_unavailable"},
		{call{method: "POST", path: "/-/reload", key: sendKey, want: 403}, "forbidden"},
		{call{method: "POST", path: "/v1/channels/sms/sim", key: adminKey, body: `{"mode":"sideways"}`, want: 422, badRequest: true}, "invalid_field"},
		{call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: `{"messages":[` + strings.Join(items, ",") + `]}`, want: 422, badRequest: true}, "too_many_messages"},
		{call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: `{"messages":[]}`, want: 422, badRequest: true}, "missing_field"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"hi","prio":1}`, want: 400, badRequest: true}, "unknown_field"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":`, want: 400, badRequest: true}, "invalid_json"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: otp, hdr: []string{"Idempotency-Key", strings.Repeat("k", 300)}, want: 400, badRequest: true}, "invalid_header"},
		{call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: `{"msgs":[]}`, want: 400, badRequest: true}, "unknown_field"},
		{call{method: "POST", path: "/v1/channels/sms/disable", key: adminKey, body: `{"why":"x"}`, want: 400, badRequest: true}, "unknown_field"},
		// A schema cannot see a key given twice; the gateway refuses it.
		{call{method: "POST", path: "/v1/channels/sms/disable", key: adminKey, body: `{"reason":"x","reason":"y"}`, want: 400}, "invalid_json"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"body":"a","body":"b"}`, want: 400}, "invalid_json"},
		{call{method: "POST", path: "/v1/messages", key: sendKey, body: `{"to":{"phone":"+15551234567"},"Body":"a"}`, want: 400, badRequest: true}, "unknown_field"},
		{call{method: "GET", path: "/v1/messages?status=lost", key: readKey, want: 400, badRequest: true}, "invalid_query"},
		{call{method: "GET", path: "/v1/messages?limit=0", key: readKey, want: 400, badRequest: true}, "invalid_query"},
		{call{method: "GET", path: "/v1/messages?cursor=%21%21bogus", key: readKey, want: 400}, "invalid_query"},
		{call{method: "GET", path: "/v1/inbound?limit=0", key: readKey, want: 400, badRequest: true}, "invalid_query"},
		{call{method: "GET", path: "/v1/inbound", key: sendKey, want: 403}, "forbidden"},
		{call{method: "POST", path: "/v1/suppressions", key: readKey, body: `{"address":"+15551230077","kind":"sms"}`, want: 403}, "forbidden"},
		{call{method: "GET", path: "/v1/suppressions", key: sendKey, want: 403}, "forbidden"},
		{call{method: "POST", path: "/v1/suppressions", key: adminKey, body: `{"address":"12","kind":"sms"}`, want: 422}, "invalid_recipient"},
		{call{method: "POST", path: "/v1/suppressions", key: adminKey, body: `{"address":"+15551230077","kind":"fax"}`, want: 422, badRequest: true}, "invalid_field"},
		{call{method: "POST", path: "/v1/suppressions", key: adminKey, body: `{"address":"+15551230077"}`, want: 422, badRequest: true}, "missing_field"},
		{call{method: "POST", path: "/v1/suppressions", key: adminKey, body: `{"address":"+15551230077","kind":"sms","by":"me"}`, want: 400, badRequest: true}, "unknown_field"},
		{call{method: "GET", path: "/v1/suppressions?limit=0", key: readKey, want: 400, badRequest: true}, "invalid_query"},
		{call{method: "GET", path: "/v1/suppressions?kind=fax", key: readKey, want: 400}, "invalid_query"},
		{call{method: "GET", path: "/v1/suppressions?cursor=%21%21bogus", key: readKey, want: 400}, "invalid_query"},
		{call{method: "DELETE", path: "/v1/suppressions/sms/12", key: adminKey, want: 400}, "invalid_recipient"},
		{call{method: "DELETE", path: "/v1/suppressions/whatsapp/%2B15551230077", key: adminKey, want: 404}, "not_found"},
		{call{method: "DELETE", path: "/v1/suppressions/sms/%2B15551230077", key: readKey, want: 403}, "forbidden"},
	}
	for _, e := range errs {
		r := sc.do(e.call)
		require.Equal(t, e.code, r.code(), "%s %s: %s", e.method, e.path, r.raw)
	}
	// The 413 of a batch: over 64 × max_body_bytes (4096 in the test config).
	hugeItem := `{"to":{"phone":"+15551234567"},"body":"` + strings.Repeat("y", 3000) + `"}`
	var huge []string
	for range 100 {
		huge = append(huge, hugeItem)
	}
	r = sc.do(call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: `{"messages":[` + strings.Join(huge, ",") + `]}`, want: 413})
	require.Equal(t, "body_too_large", r.code())

	// Every documented operation was exercised.
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !sc.seen[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "documented operations this test never validated")
}

// TestOpenAPIRoutesMatchServer: every route the server answers is in the
// document and every documented operation is a route of the server.
func TestOpenAPIRoutesMatchServer(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	g, _ := startGateway(t)
	var server, documented []string
	for _, r := range g.API.Routes() {
		// The support dashboard (/ui, package api/ui) is HTML pages and form
		// posts for browsers, not part of the JSON API the document
		// describes; api/ui/ui_test.go covers it.
		if r.Path == "/ui" || strings.HasPrefix(r.Path, "/ui/") {
			continue
		}
		// echo's /v1/messages/:id is OpenAPI's /v1/messages/{id}.
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		server = append(server, r.Method+" "+strings.Join(segs, "/"))
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(server)
	sort.Strings(documented)
	server = slices.Compact(server)
	require.Equal(t, server, documented, "server routes (left) and api/openapi.json (right) differ")
}

// TestOpenAPIErrorCodes: the ErrorCode enum lists exactly the codes the api
// package can answer with (found in its source), so a new code cannot ship
// undocumented and a removed one does not linger.
func TestOpenAPIErrorCodes(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	var documented []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, v.(string))
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	found := map[string]bool{}
	lit := func(e ast.Expr) {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			s, err := strconv.Unquote(bl.Value)
			require.NoError(t, err)
			found[s] = true
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		ast.Inspect(af, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok {
					switch id.Name {
					case "badRequest", "unprocessable":
						lit(n.Args[0])
					case "errorf":
						lit(n.Args[1])
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Code" {
					lit(n.Value)
				}
			case *ast.FuncDecl:
				if n.Name.Name == "httpCode" {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
							lit(r.Results[0])
						}
						return true
					})
				}
			case *ast.AssignStmt:
				// e.Code = "..."
				for i, l := range n.Lhs {
					if se, ok := l.(*ast.SelectorExpr); ok && se.Sel.Name == "Code" && i < len(n.Rhs) {
						lit(n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	var inSource []string
	for c := range found {
		inSource = append(inSource, c)
	}
	sort.Strings(inSource)
	sort.Strings(documented)
	require.NotEmpty(t, inSource)
	require.Equal(t, inSource, documented, "error codes in api/*.go (left) and ErrorCode in api/openapi.json (right) differ")
}

// TestOpenAPIStatusCallback: the documented callback body and signature
// header match what client.Sign and client.VerifySignature implement.
func TestOpenAPIStatusCallback(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	hook := doc.Webhooks["messageStatus"]
	require.NotNil(t, hook, "webhooks.messageStatus")
	op := hook.Post
	body := []byte(`{"id":"0193a7e0-1c2d-7e4f-8a9b-0c1d2e3f4a5b","status":"delivered","channel":"sms","attempt":2,"is_fallback":true,"duplicate":false,"timestamp":"2026-05-04T10:15:30Z"}`)
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	require.NoError(t, schema.VisitJSON(v, openapi3.EnableJSONSchema2020()))
	var extra map[string]any
	require.NoError(t, json.Unmarshal(body, &extra))
	extra["unexpected"] = 1
	require.Error(t, schema.VisitJSON(extra, openapi3.EnableJSONSchema2020()), "the callback body is a closed object")

	now := time.Unix(1767225600, 0)
	hdr := client.Sign(body, now, "old-secret", "new-secret")
	p := op.Parameters.GetByInAndName("header", client.SignatureHeader)
	require.NotNil(t, p, "the Switchboard-Signature header is documented")
	require.NoError(t, p.Schema.Value.VisitJSON(hdr, openapi3.EnableJSONSchema2020()), "client.Sign output matches the documented pattern: %s", hdr)
	require.NoError(t, client.VerifySignature("new-secret", hdr, body, time.Minute, now))
	require.ErrorIs(t, client.VerifySignature("new-secret", hdr, bytes.Replace(body, []byte("sms"), []byte("sns"), 1), time.Minute, now), client.ErrBadSignature)
}

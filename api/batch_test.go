package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func batchBody(items ...string) string { return `{"messages":[` + strings.Join(items, ",") + `]}` }

func results(t *testing.T, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, x := range r.body["results"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func itemErr(r map[string]any) (code, field string) {
	e, _ := r["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func TestBatchItemsStandAlone(t *testing.T) {
	t.Parallel()
	g, base := startGateway(t)
	tb := &testBundle{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	r := tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(
		otp,
		`{"to":{"phone":"12"},"body":"hi"}`,
		`{"to":{"email":"ana@example.com"},"body":"Your order shipped","subject":"Order 42"}`,
		`{"to":{"phone":"+15551234567"},"body":"hi","policy":"nope"}`,
		`{"to":{"phone":"+15551234567"},"body":"hi","prio":1}`,
		`"not an object"`,
		`{"to":{"phone":"+15551234567"},"body":"hi","idempotency_key":7}`,
		`{"to":{"phone":"+15551234567"},"body":"`+strings.Repeat("z", 5000)+`"}`,
	))
	require.Equal(t, 200, r.status, r.raw)
	require.EqualValues(t, 2, r.body["accepted"])
	require.EqualValues(t, 6, r.body["rejected"])
	res := results(t, r)
	require.Len(t, res, 8)
	for i, x := range res {
		require.EqualValues(t, i, x["index"], "results are in request order")
	}
	require.Equal(t, "queued", res[0]["status"])
	require.Equal(t, "otp", res[0]["policy"])
	require.Equal(t, []any{"whatsapp", "sms", "email"}, res[0]["route"])
	require.Equal(t, "default", res[2]["policy"])
	for i, want := range map[int][2]string{
		1: {"invalid_recipient", "to.phone"},
		3: {"unknown_policy", "policy"},
		4: {"unknown_field", "prio"},
		5: {"invalid_json", ""},
		6: {"invalid_field", "idempotency_key"},
		7: {"body_too_large", ""},
	} {
		code, field := itemErr(res[i])
		require.Equal(t, want, [2]string{code, field}, "item %d: %v", i, res[i])
		require.NotContains(t, res[i], "id")
	}
	// Accepted items were durable before the answer, and they get delivered.
	for _, i := range []int{0, 2} {
		m, err := g.Store.Get(context.Background(), res[i]["id"].(string))
		require.NoError(t, err)
		require.Equal(t, res[i]["policy"], m.Policy)
	}
	waitStatus(t, tb, res[0]["id"].(string), "delivered")
}

func TestBatchOfAThousand(t *testing.T) {
	t.Parallel()
	g, base := startGateway(t)
	// A thousand durable inserts under -race on a loaded machine can take
	// tens of seconds; the client's timeout is a hang guard, not a target
	// (the time is logged, and BENCHMARKS.md measures batches).
	tb := &testBundle{base: base, http: &http.Client{Timeout: 5 * time.Minute}}
	items := make([]string, 1000)
	for i := range items {
		items[i] = fmt.Sprintf(`{"to":{"phone":"+1555123%04d"},"body":"Your code is %d","tags":["otp"]}`, i, i)
	}
	start := time.Now()
	r := tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(items...), "Idempotency-Key", "thousand")
	require.Equal(t, 200, r.status, r.raw)
	require.EqualValues(t, 1000, r.body["accepted"], r.raw)
	t.Logf("1000 items accepted in %s", time.Since(start))
	ids := map[string]bool{}
	for i, x := range results(t, r) {
		require.EqualValues(t, i, x["index"])
		id := x["id"].(string)
		require.False(t, ids[id], "duplicate id")
		ids[id] = true
		m, err := g.Store.Get(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("+1555123%04d", i), m.To.Phone, "result %d is item %d's message", i, i)
	}

	// The same batch again with the same Idempotency-Key replays every item.
	again := tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(items...), "Idempotency-Key", "thousand")
	require.Equal(t, 200, again.status)
	for i, x := range results(t, again) {
		require.Equal(t, true, x["idempotent_replay"], "item %d", i)
		require.True(t, ids[x["id"].(string)])
	}

	// One more is too many.
	over := tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(append(items, items[0])...))
	require.Equal(t, 422, over.status, over.raw)
	code, field := errField(over)
	require.Equal(t, "too_many_messages", code)
	require.Equal(t, "messages", field)
	require.Contains(t, over.raw, "at most 1000")
}

func TestBatchIdempotencyAndEnvelope(t *testing.T) {
	t.Parallel()
	_, base := startGateway(t)
	tb := &testBundle{base: base, http: &http.Client{Timeout: 30 * time.Second}}

	// An item key shares its namespace with single sends of the same API key.
	single := tb.do(t, "POST", "/v1/messages", sendKey, otp, "Idempotency-Key", "otp-42")
	require.Equal(t, 202, single.status)
	withKey := strings.TrimSuffix(otp, "}") + `,"idempotency_key":"otp-42"}`
	other := `{"to":{"whatsapp":"+15551234567"},"body":"another","idempotency_key":"otp-42"}`
	r := tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(withKey, other, otp), "Idempotency-Key", "b")
	require.Equal(t, 200, r.status, r.raw)
	res := results(t, r)
	require.Equal(t, single.body["id"], res[0]["id"])
	require.Equal(t, true, res[0]["idempotent_replay"])
	code, field := itemErr(res[1])
	require.Equal(t, "idempotency_mismatch", code)
	require.Equal(t, "idempotency_key", field)
	require.NotEmpty(t, res[2]["id"])
	// Item 2 had no key: it used "b#2", which a single send can replay.
	s := tb.do(t, "POST", "/v1/messages", sendKey, otp, "Idempotency-Key", "b#2")
	require.Equal(t, 202, s.status)
	require.Equal(t, "true", s.header.Get("Idempotent-Replay"))
	require.Equal(t, res[2]["id"], s.body["id"])
	// Without a header key nothing is deduplicated.
	a := results(t, tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(otp)))
	b := results(t, tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(otp)))
	require.NotEqual(t, a[0]["id"], b[0]["id"])

	tests := []struct {
		name, key, body string
		hdr             []string
		status          int
		code, field     string
	}{
		{"read key", readKey, batchBody(otp), nil, 403, "forbidden", ""},
		{"no key", "", batchBody(otp), nil, 401, "unauthorized", ""},
		{"empty body", sendKey, "", nil, 400, "invalid_json", ""},
		{"not json", sendKey, `{"messages":`, nil, 400, "invalid_json", ""},
		{"messages not an array", sendKey, `{"messages":"x"}`, nil, 400, "invalid_field", "messages"},
		{"unknown field", sendKey, `{"messages":[],"priority":1}`, nil, 400, "unknown_field", "priority"},
		{"trailing data", sendKey, batchBody(otp) + `{}`, nil, 400, "invalid_json", ""},
		{"no messages", sendKey, `{"messages":[]}`, nil, 422, "missing_field", "messages"},
		{"null messages", sendKey, `{"messages":null}`, nil, 422, "missing_field", "messages"},
		{"form content type", sendKey, batchBody(otp), []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"header key too long", sendKey, batchBody(otp), []string{"Idempotency-Key", strings.Repeat("k", 254)}, 400, "invalid_header", "Idempotency-Key"},
		// 64 × max_body_bytes (4096 here) = 256 KiB.
		{"body too large", sendKey, batchBody(strings.Repeat(`{"to":{"phone":"+15551234567"},"body":"`+strings.Repeat("y", 3000)+`"},`, 100) + otp), nil, 413, "body_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tb.do(t, "POST", "/v1/messages/batch", tt.key, tt.body, tt.hdr...)
			require.Equal(t, tt.status, r.status, r.raw)
			code, field := errField(r)
			require.Equal(t, tt.code, code, r.raw)
			require.Equal(t, tt.field, field, r.raw)
			if tt.status == 413 {
				require.Contains(t, r.raw, "split the batch")
			}
		})
	}
}

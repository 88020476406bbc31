package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// apiError is the error body every API error has.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// raw sends bytes as they are (malformed JSON included); key may be "".
func (g *gateway) raw(t testing.TB, method, path, key string, body []byte, header http.Header) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, g.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// requireAPIError asserts an error response: status, JSON content type,
// error.code and error.field.
func requireAPIError(t testing.TB, r rawResponse, status int, code, field string) {
	t.Helper()
	require.Equal(t, status, r.Status, "status; body %s", r.Body)
	assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
	var e apiError
	require.NoError(t, json.Unmarshal(r.Body, &e), "error body is JSON: %s", r.Body)
	assert.Equal(t, code, e.Error.Code, "error.code; body %s", r.Body)
	assert.Equal(t, field, e.Error.Field, "error.field; body %s", r.Body)
	assert.NotEmpty(t, e.Error.Message, "error.message")
}

func TestAPIContract(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	cfg.channel("telegram").Mode = "reject" // policy telegram-only: messages that fail
	g := startGateway(t, cfg)
	ctx := context.Background()
	good := []byte(`{"to": {"phone": "+15551230001", "whatsapp": "+15551230001"}, "body": "Your code is 123456", "tags": ["otp"]}`)

	t.Run("health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			r := g.raw(t, http.MethodGet, path, "", nil, nil)
			assert.Equal(t, http.StatusOK, r.Status, "%s: %s", path, r.Body)
		}
	})

	t.Run("auth", func(t *testing.T) {
		tests := []struct {
			name, method, path, key string
			body                    []byte
			status                  int
			code                    string
		}{
			{"no key", http.MethodPost, "/v1/messages", "", good, 401, "unauthorized"},
			{"wrong key", http.MethodPost, "/v1/messages", "not-a-key-0123456789", good, 401, "unauthorized"},
			{"no key on read", http.MethodGet, "/v1/channels", "", nil, 401, "unauthorized"},
			{"send key on channels", http.MethodGet, "/v1/channels", sendKey, nil, 403, "forbidden"},
			{"read key on send", http.MethodPost, "/v1/messages", readKey, good, 403, "forbidden"},
			{"send key on disable", http.MethodPost, "/v1/channels/whatsapp/disable", sendKey, nil, 403, "forbidden"},
			{"read key on disable", http.MethodPost, "/v1/channels/whatsapp/disable", readKey, nil, 403, "forbidden"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := g.raw(t, tc.method, tc.path, tc.key, tc.body, nil)
				requireAPIError(t, r, tc.status, tc.code, "")
				if tc.status == 401 {
					assert.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
				}
			})
		}
	})

	t.Run("idempotency", func(t *testing.T) {
		h := http.Header{"Idempotency-Key": {"order-42-otp"}}
		first := g.raw(t, http.MethodPost, "/v1/messages", sendKey, good, h)
		require.Equal(t, http.StatusAccepted, first.Status, "%s", first.Body)
		assert.Empty(t, first.Header.Get("Idempotent-Replay"))
		var a, b client.SendResponse
		require.NoError(t, json.Unmarshal(first.Body, &a))

		// The same request, written differently, is the same request.
		same := []byte(`{"tags":["otp"],"body":"Your code is 123456","to":{"whatsapp":"+15551230001","phone":"+15551230001"}}`)
		second := g.raw(t, http.MethodPost, "/v1/messages", sendKey, same, h)
		require.Equal(t, http.StatusAccepted, second.Status, "%s", second.Body)
		assert.Equal(t, "true", second.Header.Get("Idempotent-Replay"))
		require.NoError(t, json.Unmarshal(second.Body, &b))
		assert.Equal(t, a.ID, b.ID, "a replay returns the first message")

		// Through the client too.
		res, err := g.Send.Send(ctx, &client.SendRequest{
			To:   client.Recipient{Phone: "+15551230001", WhatsApp: "+15551230001"},
			Body: "Your code is 123456", Tags: []string{"otp"},
		}, "order-42-otp")
		require.NoError(t, err)
		assert.True(t, res.Replayed)
		assert.Equal(t, a.ID, res.ID)

		other := []byte(`{"to": {"phone": "+15551230001"}, "body": "Your code is 999999", "tags": ["otp"]}`)
		requireAPIError(t, g.raw(t, http.MethodPost, "/v1/messages", sendKey, other, h),
			http.StatusUnprocessableEntity, "idempotency_mismatch", "Idempotency-Key")

		// The key is the caller's: the admin key (another scope) may reuse it.
		adm := g.raw(t, http.MethodPost, "/v1/messages", adminKey, other, h)
		require.Equal(t, http.StatusAccepted, adm.Status, "%s", adm.Body)
		assert.Empty(t, adm.Header.Get("Idempotent-Replay"))

		m := g.waitFinal(t, a.ID)
		assert.Equal(t, "delivered", m.Status)
		assert.Len(t, m.Attempts, 1, "a replay sends nothing")

		// Concurrent first uses of one key make exactly one message.
		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			ids  = map[string]int{}
			errs []error
		)
		for range 16 {
			wg.Go(func() {
				res, err := g.Send.Send(ctx, otp(4242), "concurrent-key")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				ids[res.ID]++
			})
		}
		wg.Wait()
		assert.Empty(t, errs)
		assert.Len(t, ids, 1, "one message for one Idempotency-Key: %v", ids)
	})

	t.Run("validation", func(t *testing.T) {
		big := fmt.Sprintf(`{"to": {"phone": "+15551230001"}, "body": %q}`, strings.Repeat("x", 70<<10))
		tests := []struct {
			name   string
			body   string
			status int
			code   string
			field  string
		}{
			{"malformed JSON", `{"to": {"phone": "+15551230001"}, "body": "hi"`, 400, "invalid_json", ""},
			{"not JSON at all", `to=+15551230001`, 400, "invalid_json", ""},
			{"empty body", ``, 400, "invalid_json", ""},
			{"unknown field", `{"to": {"phone": "+15551230001"}, "body": "hi", "prority": "high"}`, 400, "unknown_field", "prority"},
			{"unknown recipient field", `{"to": {"phone": "+15551230001", "fax": "+15551230002"}, "body": "hi"}`, 400, "unknown_field", "to.fax"},
			{"field name in the wrong case", `{"to": {"phone": "+15551230001"}, "Body": "hi"}`, 400, "unknown_field", "Body"},
			{"recipient field in the wrong case", `{"to": {"Phone": "+15551230001"}, "body": "hi"}`, 400, "unknown_field", "to.Phone"},
			{"key given twice", `{"to": {"phone": "+15551230001"}, "body": "hi", "body": "bye"}`, 400, "invalid_json", "body"},
			{"recipient key given twice", `{"to": {"phone": "+15551230001", "phone": "+15551230002"}, "body": "hi"}`, 400, "invalid_json", "to.phone"},
			{"no recipient", `{"to": {}, "body": "hi"}`, 422, "no_recipient", "to"},
			{"missing to", `{"body": "hi"}`, 422, "no_recipient", "to"},
			{"bad E.164", `{"to": {"phone": "555-1234"}, "body": "hi"}`, 422, "invalid_recipient", "to.phone"},
			{"bad whatsapp", `{"to": {"whatsapp": "+0123"}, "body": "hi"}`, 422, "invalid_recipient", "to.whatsapp"},
			{"bad email", `{"to": {"email": "ana at example.com"}, "body": "hi"}`, 422, "invalid_recipient", "to.email"},
			{"missing body", `{"to": {"phone": "+15551230001"}}`, 422, "missing_field", "body"},
			{"body too large", big, 413, "body_too_large", ""},
			{"unknown policy", `{"to": {"phone": "+15551230001"}, "body": "hi", "policy": "carrier-pigeon"}`, 422, "unknown_policy", "policy"},
			{"bad ttl", `{"to": {"phone": "+15551230001"}, "body": "hi", "ttl": "forever"}`, 422, "invalid_ttl", "ttl"},
			{"negative ttl", `{"to": {"phone": "+15551230001"}, "body": "hi", "ttl": "-1m"}`, 422, "invalid_ttl", "ttl"},
			{"wrong JSON type", `{"to": {"phone": "+15551230001"}, "body": 123456}`, 400, "invalid_field", "body"},
			{"wrong JSON type for to", `{"to": "+15551230001", "body": "hi"}`, 400, "invalid_field", "to"},
			{"no address for the route", `{"to": {"telegram": "123456789"}, "body": "hi", "tags": ["otp"]}`, 422, "no_route", "to"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := g.raw(t, http.MethodPost, "/v1/messages", sendKey, []byte(tc.body), nil)
				requireAPIError(t, r, tc.status, tc.code, tc.field)
			})
		}
		t.Run("wrong content type", func(t *testing.T) {
			r := g.raw(t, http.MethodPost, "/v1/messages", sendKey, good, http.Header{"Content-Type": {"text/plain"}})
			requireAPIError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "")
		})
	})

	t.Run("get unknown id", func(t *testing.T) {
		for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "no-such-id"} {
			_, err := g.Read.Get(ctx, id)
			var ae *client.Error
			require.True(t, errors.As(err, &ae), "GET %s: %v", id, err)
			assert.Equal(t, http.StatusNotFound, ae.StatusCode)
			assert.Equal(t, "not_found", ae.Code)
		}
	})

	t.Run("list paging", func(t *testing.T) {
		// 25 delivered and 5 failed messages to one recipient, sent one
		// after the other, so their ids (UUIDv7) are in send order.
		const phone = "+15559990025"
		var delivered, failed []string
		for i := range 30 {
			req := &client.SendRequest{To: client.Recipient{Phone: phone, WhatsApp: phone, Telegram: "424242"}, Body: fmt.Sprintf("message %d", i)}
			if i%6 == 5 {
				req.Policy = "telegram-only"
			}
			id := g.send(t, req)
			if req.Policy != "" {
				failed = append(failed, id)
			} else {
				delivered = append(delivered, id)
			}
		}
		for _, id := range append(slices.Clone(delivered), failed...) {
			g.waitFinal(t, id)
		}
		slices.Reverse(delivered) // newest first
		slices.Reverse(failed)

		list := func(status string, limit int) (ids []string, pages []int) {
			cursor := ""
			for range 20 {
				q := url.Values{"to": {phone}, "status": {status}, "limit": {fmt.Sprint(limit)}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				var page struct {
					Messages []struct {
						ID     string `json:"id"`
						Status string `json:"status"`
					} `json:"messages"`
					NextCursor string `json:"next_cursor"`
				}
				require.NoError(t, g.Read.Do(ctx, http.MethodGet, "/v1/messages?"+q.Encode(), nil, &page))
				require.LessOrEqual(t, len(page.Messages), limit)
				pages = append(pages, len(page.Messages))
				for _, m := range page.Messages {
					assert.Equal(t, status, m.Status)
					ids = append(ids, m.ID)
				}
				if page.NextCursor == "" {
					return ids, pages
				}
				cursor = page.NextCursor
			}
			t.Fatalf("paging did not end after 20 pages")
			return nil, nil
		}
		ids, pages := list("delivered", 10)
		t.Logf("delivered pages: %v", pages)
		assert.Equal(t, delivered, ids, "every delivered message once, newest first, no gaps")
		require.GreaterOrEqual(t, len(pages), 3)
		assert.Equal(t, []int{10, 10, 5}, pages[:3])
		ids, _ = list("failed", 10)
		assert.Equal(t, failed, ids)

		r := g.raw(t, http.MethodGet, "/v1/messages?status=lost", readKey, nil, nil)
		requireAPIError(t, r, http.StatusBadRequest, "invalid_query", "status")
		r = g.raw(t, http.MethodGet, "/v1/messages?cursor=bogus", readKey, nil, nil)
		requireAPIError(t, r, http.StatusBadRequest, "invalid_query", "cursor")
		r = g.raw(t, http.MethodGet, "/v1/messages", sendKey, nil, nil)
		requireAPIError(t, r, http.StatusForbidden, "forbidden", "")
	})

	t.Run("explain disabled", func(t *testing.T) {
		type explain struct {
			Policy   string   `json:"policy"`
			Route    []string `json:"route"`
			Channel  string   `json:"channel"`
			Channels []struct {
				Channel string `json:"channel"`
				Use     bool   `json:"use"`
				Reason  string `json:"reason"`
				Detail  string `json:"detail"`
			} `json:"channels"`
		}
		body := map[string]any{"to": map[string]string{"phone": "+15551230001", "whatsapp": "+15551230001"}, "body": "hi", "tags": []string{"otp"}}
		var before explain
		require.NoError(t, g.Send.Do(ctx, http.MethodPost, "/v1/routes/explain", body, &before))
		assert.Equal(t, "whatsapp", before.Channel)

		require.NoError(t, g.Admin.Do(ctx, http.MethodPost, "/v1/channels/whatsapp/disable", map[string]string{"reason": "drill"}, nil))
		t.Cleanup(func() { _ = g.Admin.Do(ctx, http.MethodPost, "/v1/channels/whatsapp/enable", nil, nil) })
		var out explain
		require.NoError(t, g.Read.Do(ctx, http.MethodPost, "/v1/routes/explain", body, &out))
		assert.Equal(t, "otp", out.Policy)
		require.Len(t, out.Channels, 3)
		assert.Equal(t, "whatsapp", out.Channels[0].Channel)
		assert.False(t, out.Channels[0].Use)
		assert.Equal(t, "disabled", out.Channels[0].Reason)
		assert.Contains(t, out.Channels[0].Detail, "drill")
		assert.True(t, out.Channels[1].Use)
		assert.Equal(t, "sms", out.Channel)
		assert.Equal(t, "no_address", out.Channels[2].Reason, "the body has no email")

		requireAPIError(t, g.raw(t, http.MethodPost, "/v1/channels/fax/disable", adminKey, nil, nil),
			http.StatusNotFound, "unknown_channel", "name")
	})

	t.Run("cli", func(t *testing.T) { testCLI(t, g) })
}

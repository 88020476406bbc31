package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// step is one canned answer of a fake gateway.
type step struct {
	status int
	header map[string]string
	body   string
	hangup bool // close the connection without answering (a transport error)
}

// seen is one request the fake gateway received.
type seen struct {
	method, path, query, idemKey, auth, body string
}

type fake struct {
	mu    sync.Mutex
	steps []step
	reqs  []seen
}

func (f *fake) handler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization"), string(b)})
		if len(f.steps) == 0 {
			f.mu.Unlock()
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(500)
			return
		}
		s := f.steps[0]
		f.steps = f.steps[1:]
		f.mu.Unlock()
		if s.hangup {
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			conn.Close()
			return
		}
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
	}
}

// newFake returns a client of a fake gateway answering steps in order; it
// records the waits between attempts instead of sleeping.
func newFake(t *testing.T, steps ...step) (*Client, *fake, *[]time.Duration) {
	f := &fake{steps: steps}
	srv := httptest.NewServer(f.handler(t))
	t.Cleanup(srv.Close)
	c := New(srv.URL+"/", "k-123")
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Empty(t, f.steps, "the client made fewer requests than expected")
	})
	return c, f, &waits
}

const accepted = `{"id":"0193a7e0-1c2d-7e4f-8a9b-0c1d2e3f4a5b","status":"queued","policy":"otp","route":["whatsapp","sms"]}`
const unavailable = `{"error":{"code":"unavailable","message":"the message store is unavailable; the message was not accepted, retry"}}`

var otp = &SendRequest{To: Recipient{Phone: "+15551234567"}, Body: "Your code is 123456", Tags: []string{"otp"}}

func TestSendRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		key       string
		retry     RetryPolicy
		steps     []step
		wantErr   string // substring; "" for success
		wantCalls int
		checkWait func(t *testing.T, waits []time.Duration)
	}{
		{
			name: "503 then 429 with Retry-After then 202, one key throughout",
			steps: []step{
				{status: 503, body: unavailable},
				{status: 429, header: map[string]string{"Retry-After": "1"}, body: `{"error":{"code":"rate_limited","message":"slow down"}}`},
				{status: 202, body: accepted},
			},
			wantCalls: 3,
			checkWait: func(t *testing.T, waits []time.Duration) {
				require.Len(t, waits, 2)
				require.GreaterOrEqual(t, waits[0], 125*time.Millisecond, "first backoff: half to all of 250ms")
				require.LessOrEqual(t, waits[0], 250*time.Millisecond)
				require.Equal(t, time.Second, waits[1], "Retry-After is honoured as given")
			},
		},
		{
			name:      "the caller's key is used",
			key:       "order-42",
			steps:     []step{{status: 503, header: map[string]string{"Retry-After": "2"}, body: unavailable}, {status: 202, body: accepted}},
			wantCalls: 2,
			checkWait: func(t *testing.T, waits []time.Duration) { require.Equal(t, []time.Duration{2 * time.Second}, waits) },
		},
		{
			name:      "a transport error is retried (the key makes it safe)",
			steps:     []step{{hangup: true}, {hangup: true}, {status: 202, body: accepted}},
			wantCalls: 3,
			checkWait: func(t *testing.T, waits []time.Duration) {
				require.Len(t, waits, 2)
				require.GreaterOrEqual(t, waits[1], 250*time.Millisecond, "the backoff doubles")
				require.LessOrEqual(t, waits[1], 500*time.Millisecond)
			},
		},
		{
			name:      "gives up after MaxAttempts with the last error",
			retry:     RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 1500 * time.Millisecond},
			steps:     []step{{status: 503, body: unavailable}, {status: 503, body: unavailable}, {status: 503, body: unavailable}},
			wantErr:   "503 unavailable",
			wantCalls: 3,
			checkWait: func(t *testing.T, waits []time.Duration) {
				require.Len(t, waits, 2)
				require.LessOrEqual(t, waits[1], 1500*time.Millisecond, "capped at MaxDelay")
			},
		},
		{
			name:      "MaxAttempts 1 disables retries",
			retry:     RetryPolicy{MaxAttempts: 1},
			steps:     []step{{status: 503, body: unavailable}},
			wantErr:   "503 unavailable",
			wantCalls: 1,
		},
		{
			name:      "a 4xx is not retried",
			steps:     []step{{status: 422, body: `{"error":{"code":"invalid_recipient","message":"phone must be E.164","field":"to.phone"}}`}},
			wantErr:   "422 invalid_recipient: phone must be E.164 (field to.phone)",
			wantCalls: 1,
		},
		{
			name: "a recipient at its limit is not retried, whatever Retry-After says",
			steps: []step{{status: 429, header: map[string]string{"Retry-After": "1800"},
				body: `{"error":{"code":"recipient_rate_limited","message":"this recipient has had 5 messages","field":"to"}}`}},
			wantErr:   "429 recipient_rate_limited",
			wantCalls: 1,
		},
		{
			name:      "a 500 is not retried",
			steps:     []step{{status: 500, body: `{"error":{"code":"internal","message":"bug"}}`}},
			wantErr:   "500 internal",
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, f, waits := newFake(t, tt.steps...)
			c.Retry = tt.retry
			res, err := c.Send(context.Background(), otp, tt.key)
			require.Len(t, f.reqs, tt.wantCalls)
			key := f.reqs[0].idemKey
			require.NotEmpty(t, key, "every send carries an Idempotency-Key")
			if tt.key != "" {
				require.Equal(t, tt.key, key)
			}
			for _, r := range f.reqs {
				require.Equal(t, key, r.idemKey, "one key across attempts")
				require.Equal(t, "Bearer k-123", r.auth)
				require.Equal(t, "/v1/messages", r.path)
				require.JSONEq(t, f.reqs[0].body, r.body, "the same body on every attempt")
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				var ae *Error
				require.ErrorAs(t, err, &ae)
			} else {
				require.NoError(t, err)
				require.Equal(t, "0193a7e0-1c2d-7e4f-8a9b-0c1d2e3f4a5b", res.ID)
				require.Equal(t, []string{"whatsapp", "sms"}, res.Route)
				require.Equal(t, key, res.IdempotencyKey)
			}
			if tt.checkWait != nil {
				tt.checkWait(t, *waits)
			}
		})
	}
}

func TestSendKeysDiffer(t *testing.T) {
	t.Parallel()
	c, f, _ := newFake(t, step{status: 202, body: accepted}, step{status: 202, header: map[string]string{"Idempotent-Replay": "true"}, body: accepted})
	a, err := c.Send(context.Background(), otp, "")
	require.NoError(t, err)
	require.False(t, a.Replayed)
	b, err := c.Send(context.Background(), otp, "")
	require.NoError(t, err)
	require.True(t, b.Replayed)
	require.NotEqual(t, f.reqs[0].idemKey, f.reqs[1].idemKey, "two sends are two messages")
	require.True(t, strings.HasPrefix(a.IdempotencyKey, "sbc-"))
}

func TestRetryHonoursContext(t *testing.T) {
	t.Parallel()
	// A Retry-After past the deadline: the error now, not a doomed wait.
	c, f, waits := newFake(t, step{status: 503, header: map[string]string{"Retry-After": "30"}, body: unavailable})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Send(ctx, otp, "")
	require.ErrorContains(t, err, "503 unavailable")
	var ae *Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 30*time.Second, ae.RetryAfter)
	require.True(t, IsRetryable(err))
	require.Empty(t, *waits)
	require.Len(t, f.reqs, 1)

	// Cancelled while waiting: stop with the last error.
	c2, f2, _ := newFake(t, step{status: 503, body: unavailable})
	ctx2, cancel2 := context.WithCancel(context.Background())
	c2.sleep = func(ctx context.Context, d time.Duration) error { cancel2(); return ctx.Err() }
	_, err = c2.Send(ctx2, otp, "")
	require.ErrorContains(t, err, "503")
	require.Len(t, f2.reqs, 1)

	// The real wait (no hook) ends with the context.
	c3 := &Client{Retry: RetryPolicy{}}
	ctx3, cancel3 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel3()
	start := time.Now()
	require.ErrorIs(t, c3.wait(ctx3, time.Hour), context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)
}

func TestTransportErrorsOnlyRetriedWhenSafe(t *testing.T) {
	t.Parallel()
	// A POST through Do carries no Idempotency-Key: not retried.
	c, f, _ := newFake(t, step{hangup: true})
	err := c.Do(context.Background(), "POST", "/v1/channels/sms/disable", map[string]string{"reason": "x"}, nil)
	require.Error(t, err)
	require.Len(t, f.reqs, 1)
	// A GET is.
	c, f, _ = newFake(t, step{hangup: true}, step{status: 200, body: `{"id":"m1","status":"delivered","policy":"otp","route":["sms"],"is_fallback":false,"duplicate":false,"to":{"phone":"+15551234567"},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:10:00Z","attempts":[{"seq":1,"channel":"sms","status":"delivered","started_at":"2026-01-01T00:00:00Z"}]}`})
	m, err := c.Get(context.Background(), "a/b")
	require.NoError(t, err)
	require.Equal(t, "/v1/messages/a%2Fb", f.reqs[1].path, "ids are path-escaped")
	require.Equal(t, "delivered", m.Status)
	require.Len(t, m.Attempts, 1)
}

func TestList(t *testing.T) {
	t.Parallel()
	page := func(next string, ids ...string) step {
		var ms []string
		for _, id := range ids {
			ms = append(ms, fmt.Sprintf(`{"id":%q,"status":"queued","policy":"otp","route":["sms"],"is_fallback":false,"duplicate":false,"to":{},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:10:00Z"}`, id))
		}
		b := `{"messages":[` + strings.Join(ms, ",") + `]`
		if next != "" {
			b += `,"next_cursor":"` + next + `"`
		}
		return step{status: 200, body: b + "}"}
	}
	t.Run("every page", func(t *testing.T) {
		c, f, _ := newFake(t, page("c1", "m5", "m4"), page("c2", "m3", "m2"), page("", "m1"))
		var got []string
		for m, err := range c.List(context.Background(), ListParams{Status: "queued", To: "+15551234567", Limit: 2}) {
			require.NoError(t, err)
			got = append(got, m.ID)
		}
		require.Equal(t, []string{"m5", "m4", "m3", "m2", "m1"}, got)
		require.Equal(t, "limit=2&status=queued&to=%2B15551234567", f.reqs[0].query)
		require.Equal(t, "cursor=c1&limit=2&status=queued&to=%2B15551234567", f.reqs[1].query)
		require.Equal(t, "cursor=c2&limit=2&status=queued&to=%2B15551234567", f.reqs[2].query)
	})
	t.Run("tag and time bounds", func(t *testing.T) {
		c, f, _ := newFake(t, page("", "m1"))
		since := time.Date(2026, 11, 23, 18, 0, 0, 0, time.FixedZone("CET", 3600))
		for _, err := range c.List(context.Background(), ListParams{Tag: "otp", Since: since, Until: since.Add(time.Hour)}) {
			require.NoError(t, err)
		}
		require.Equal(t, "since=2026-11-23T17%3A00%3A00Z&tag=otp&until=2026-11-23T18%3A00%3A00Z", f.reqs[0].query, "times in UTC")
	})
	t.Run("break stops fetching", func(t *testing.T) {
		c, f, _ := newFake(t, page("c1", "m5", "m4"))
		for m, err := range c.List(context.Background(), ListParams{}) {
			require.NoError(t, err)
			if m.ID == "m4" {
				break
			}
		}
		require.Len(t, f.reqs, 1)
	})
	t.Run("an error ends it", func(t *testing.T) {
		c, _, _ := newFake(t, page("c1", "m2"), step{status: 400, body: `{"error":{"code":"invalid_query","message":"cursor is not one this server returned","field":"cursor"}}`})
		var got []string
		var errs []error
		for m, err := range c.List(context.Background(), ListParams{}) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			got = append(got, m.ID)
		}
		require.Equal(t, []string{"m2"}, got)
		require.Len(t, errs, 1)
		var ae *Error
		require.ErrorAs(t, errs[0], &ae)
		require.Equal(t, "cursor", ae.Field)
	})
}

func TestChannelsExplainBatch(t *testing.T) {
	t.Parallel()
	c, f, _ := newFake(t,
		step{status: 200, body: `{"channels":[{"name":"whatsapp","type":"sim","kind":"whatsapp","state":"disabled","breaker":"closed","disabled_reason":"incident","sim_mode":"up","last_probe":{"at":"2026-01-01T00:00:00Z","ok":true,"latency_ms":1.5}}]}`},
		step{status: 200, body: `{"policy":"otp","route":["whatsapp","sms"],"channel":"sms","channels":[{"channel":"whatsapp","kind":"whatsapp","use":false,"reason":"disabled"},{"channel":"sms","kind":"sms","use":true,"reason":"ok"}],` +
			`"country":"IN","country_from":"phone","policies":[{"policy":"otp","matched":true,"reason":"country IN (from phone) is in match.countries"}]}`},
		step{status: 503, body: unavailable},
		step{status: 200, body: `{"accepted":1,"rejected":1,"results":[{"index":0,"id":"m1","status":"queued","policy":"otp","route":["sms"]},{"index":1,"error":{"code":"invalid_recipient","message":"bad","field":"to.phone"}}]}`},
	)
	chs, err := c.Channels(context.Background())
	require.NoError(t, err)
	require.Equal(t, "disabled", chs[0].State)
	require.Equal(t, 1.5, chs[0].LastProbe.LatencyMS)

	ex, err := c.Explain(context.Background(), otp)
	require.NoError(t, err)
	require.Equal(t, "sms", ex.Channel)
	require.Equal(t, "disabled", ex.Channels[0].Reason)
	require.Equal(t, "phone", ex.CountryFrom)
	require.Equal(t, []PolicyMatch{{Policy: "otp", Matched: true, Reason: "country IN (from phone) is in match.countries"}}, ex.Policies)

	items := []BatchItem{{SendRequest: *otp, IdempotencyKey: "otp-1"}, {SendRequest: SendRequest{To: Recipient{Phone: "12"}, Body: "x"}}}
	res, err := c.Batch(context.Background(), items, "")
	require.NoError(t, err)
	require.Equal(t, 1, res.Accepted)
	require.Equal(t, "m1", res.Results[0].ID)
	require.Equal(t, "to.phone", res.Results[1].Error.Field)
	require.False(t, res.Results[1].Error.Retryable())
	require.True(t, (&Error{Code: "rate_limited"}).Retryable(), "a batch item refused by the key's rate limit")
	require.Equal(t, "/v1/messages/batch", f.reqs[2].path)
	require.NotEmpty(t, f.reqs[2].idemKey)
	require.Equal(t, f.reqs[2].idemKey, f.reqs[3].idemKey, "the batch retry reuses its key")
	require.Equal(t, res.IdempotencyKey, f.reqs[3].idemKey)
	var sent struct {
		Messages []map[string]any `json:"messages"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.reqs[3].body), &sent))
	require.Equal(t, "otp-1", sent.Messages[0]["idempotency_key"], "item keys sit beside the send fields")
	require.Equal(t, "Your code is 123456", sent.Messages[0]["body"])
	require.NotContains(t, sent.Messages[1], "idempotency_key")

	_, err = c.Batch(context.Background(), nil, "")
	require.Error(t, err)
	_, err = c.Batch(context.Background(), make([]BatchItem, MaxBatch+1), "")
	require.Error(t, err)
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:07 GMT": 7 * time.Second,
		"Wed, 31 Dec 2025 23:59:00 GMT": 0,
	} {
		require.Equal(t, want, retryAfter(v, now), "%q", v)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"m1","status":"delivered","channel":"sms","attempt":2,"is_fallback":true,"duplicate":false,"timestamp":"2026-01-01T00:00:00Z"}`)
	at := time.Unix(1767225600, 0)
	good := Sign(body, at, "whsec-1")
	// Golden value, computed independently:
	// printf '%s' "1767225600.$body" | openssl dgst -sha256 -hmac whsec-1
	require.Equal(t, "t=1767225600,v1=b541482a04287f4be8f3398a12e3d7672a20e6e0743436ce0368c284a965aede", good)
	_, sig, _ := strings.Cut(good, ",v1=")
	tests := []struct {
		name      string
		secret    string
		header    string
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"valid", "whsec-1", good, body, time.Minute, at.Add(30 * time.Second), nil},
		{"spaces after commas", "whsec-1", "t=1767225600, v1=" + sig, body, time.Minute, at, nil},
		{"rotation: either secret's signature", "whsec-2", Sign(body, at, "whsec-1", "whsec-2"), body, time.Minute, at, nil},
		{"rotation: old secret still verifies", "whsec-1", Sign(body, at, "whsec-1", "whsec-2"), body, time.Minute, at, nil},
		{"unknown schemes ignored", "whsec-1", "t=1767225600,v0=abc,v1=" + sig, body, time.Minute, at, nil},
		{"default tolerance is 5 minutes", "whsec-1", good, body, 0, at.Add(4 * time.Minute), nil},
		{"wrong secret", "whsec-2", good, body, time.Minute, at, ErrBadSignature},
		{"tampered body", "whsec-1", good, []byte(strings.Replace(string(body), "sms", "sns", 1)), time.Minute, at, ErrBadSignature},
		{"too old: a replay", "whsec-1", good, body, time.Minute, at.Add(61 * time.Second), ErrStaleSignature},
		{"too far in the future", "whsec-1", good, body, time.Minute, at.Add(-2 * time.Minute), ErrStaleSignature},
		{"old beyond the default", "whsec-1", good, body, 0, at.Add(6 * time.Minute), ErrStaleSignature},
		{"timestamp swapped to look fresh", "whsec-1", "t=1767225660,v1=" + sig, body, time.Minute, at.Add(time.Minute), ErrBadSignature},
		{"no timestamp", "whsec-1", "v1=" + sig, body, time.Minute, at, ErrBadSignature},
		{"two timestamps", "whsec-1", "t=1,t=1767225600,v1=" + sig, body, time.Minute, at, ErrBadSignature},
		{"no signature", "whsec-1", "t=1767225600", body, time.Minute, at, ErrBadSignature},
		{"signature not hex", "whsec-1", "t=1767225600,v1=zz" + sig[2:], body, time.Minute, at, ErrBadSignature},
		{"truncated signature", "whsec-1", "t=1767225600,v1=" + sig[:32], body, time.Minute, at, ErrBadSignature},
		{"empty header", "whsec-1", "", body, time.Minute, at, ErrBadSignature},
		{"garbage", "whsec-1", "sha256=" + sig, body, time.Minute, at, ErrBadSignature},
		{"bad timestamp", "whsec-1", "t=abc,v1=" + sig, body, time.Minute, at, ErrBadSignature},
		{"no secret", "", good, body, time.Minute, at, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.header, tt.body, tt.tolerance, tt.now)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.False(t, errors.Is(err, ErrBadSignature) && errors.Is(err, ErrStaleSignature))
		})
	}
}

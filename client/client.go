// Package client is a Go client for Switchboard's HTTP API.
//
// Sends are safe to retry: Send and Batch attach an Idempotency-Key when the
// caller gives none, and every call retries 429 and 503 answers (honouring
// Retry-After) and, for requests that are safe to repeat, transport errors,
// with capped exponential backoff, until the context ends. VerifySignature
// checks the Switchboard-Signature of a status callback.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one Switchboard gateway. The zero Retry retries with the
// defaults of RetryPolicy.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Key     string // bearer API key
	HTTP    *http.Client
	Retry   RetryPolicy

	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// RetryPolicy says how a request is retried after a 429, a 503 or (when the
// request is safe to repeat) a transport error.
type RetryPolicy struct {
	// MaxAttempts counts every try, the first included: 1 disables retries.
	// Zero means 4.
	MaxAttempts int
	// BaseDelay is the first backoff; each retry doubles it, with jitter,
	// up to MaxDelay. Zero means 250ms and 10s. A Retry-After from the
	// server is honoured as given instead.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

func (p RetryPolicy) attempts() int {
	if p.MaxAttempts <= 0 {
		return 4
	}
	return p.MaxAttempts
}

// backoff is the wait before retry number n (0-based): exponential, capped,
// with "equal jitter" (between half and all of the step) so clients that
// failed together do not retry together.
func (p RetryPolicy) backoff(n int) time.Duration {
	base, ceil := p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = 250 * time.Millisecond
	}
	if ceil <= 0 {
		ceil = 10 * time.Second
	}
	d := base
	for i := 0; i < n && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	half := d / 2
	return half + time.Duration(mathrand.Int64N(int64(half)+1))
}

// New returns a client with a 30 s per-request timeout.
func New(baseURL, key string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Key: key, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Recipient holds one address per kind.
type Recipient struct {
	Phone    string `json:"phone,omitempty"`
	WhatsApp string `json:"whatsapp,omitempty"`
	Email    string `json:"email,omitempty"`
	Telegram string `json:"telegram,omitempty"`
}

// SendRequest is a message to send.
type SendRequest struct {
	To          Recipient         `json:"to"`
	Body        string            `json:"body"`
	Subject     string            `json:"subject,omitempty"`
	HTML        string            `json:"html,omitempty"`
	Policy      string            `json:"policy,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	TTL         string            `json:"ttl,omitempty"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// SendAt schedules the send: the message is stored at once (status
	// scheduled) and goes out at that time, or when the policy's quiet
	// hours end; ttl counts from it. Zero: now.
	SendAt time.Time `json:"send_at,omitzero"`
}

// SendResponse is the gateway's 202.
type SendResponse struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Policy   string   `json:"policy"`
	Route    []string `json:"route"`
	Replayed bool     `json:"-"` // the Idempotency-Key was seen before
	// IdempotencyKey is the key the send used: the caller's, or the one
	// Send made up. Send again with it to retry without a duplicate.
	IdempotencyKey string `json:"-"`
	// A scheduled message's due time, and why it waits: send_at or
	// quiet_hours (Status is "scheduled").
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	WaitReason    string     `json:"wait_reason,omitempty"`
}

// Attempt is one try on one channel.
type Attempt struct {
	Seq            int        `json:"seq"`
	Channel        string     `json:"channel"`
	Status         string     `json:"status"`
	ProviderID     string     `json:"provider_id,omitempty"`
	ErrorClass     string     `json:"error_class,omitempty"`
	Error          string     `json:"error,omitempty"`
	Info           string     `json:"info,omitempty"`
	Sender         string     `json:"sender,omitempty"` // the sender the channel used: a number, sender ID or messaging service
	FailoverReason string     `json:"failover_reason,omitempty"`
	Ambiguous      bool       `json:"ambiguous,omitempty"`
	Late           bool       `json:"late,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	ReadAt         *time.Time `json:"read_at,omitempty"` // a read receipt (WhatsApp)
	// Cost is what the attempt cost; nil when none is recorded.
	Cost *Cost `json:"cost,omitempty"`
}

// Amount is a sum of money: Amount is an exact decimal string ("0.0158"),
// never a float; parse it with a decimal type (or money.Parse).
type Amount struct {
	Currency string `json:"currency"` // ISO 4217
	Amount   string `json:"amount"`
}

// Cost is what one attempt cost. Source is "reported" (the provider's
// price) or "declared" (the channel's configured cost, an estimate until a
// reported price replaces it).
type Cost struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Source   string `json:"source"`
	Detail   string `json:"detail,omitempty"`
}

// Spend is a channel's spend today (UTC) and its budget.
type Spend struct {
	Day    string   `json:"day"`
	Spent  []Amount `json:"spent"`
	Budget *Budget  `json:"budget,omitempty"`
}

// Budget is a channel's daily budget; Reached means routes skip the
// channel (failover reason "budget") until the UTC day ends.
type Budget struct {
	PerDay    string `json:"per_day"`
	Currency  string `json:"currency"`
	Spent     string `json:"spent"`
	Reached   bool   `json:"reached"`
	Remaining string `json:"remaining"`
}

// Message is a message and its attempts. Body and Attempts are set by Get,
// not by List.
type Message struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	Policy        string            `json:"policy"`
	Route         []string          `json:"route"`
	Channel       string            `json:"channel,omitempty"`
	IsFallback    bool              `json:"is_fallback"`
	Duplicate     bool              `json:"duplicate"`
	To            Recipient         `json:"to"`
	Body          string            `json:"body,omitempty"`
	Subject       string            `json:"subject,omitempty"`
	HTML          string            `json:"html,omitempty"`
	Tags          []string          `json:"tags,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	CallbackURL   string            `json:"callback_url,omitempty"`
	LastError     string            `json:"last_error,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	WaitReason    string            `json:"wait_reason,omitempty"` // while scheduled: send_at or quiet_hours
	Attempts      []Attempt         `json:"attempts,omitempty"`
	// Cost is what the message cost so far, one total per currency.
	Cost []Amount `json:"cost,omitempty"`
}

// CodeRecipientRateLimited is the 429 for a recipient at its policy's
// per-recipient limit; the client does not retry it.
const CodeRecipientRateLimited = "recipient_rate_limited"

// Error is an API error response (or, in a BatchResult, one item's error,
// with StatusCode 0).
type Error struct {
	StatusCode int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	status := ""
	if e.StatusCode != 0 {
		status = strconv.Itoa(e.StatusCode) + " "
	}
	if e.Field != "" {
		return fmt.Sprintf("%s%s: %s (field %s)", status, e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s%s: %s", status, e.Code, e.Message)
}

// Retryable reports whether the same request may succeed later: the server
// was unavailable or asked to slow down. Retry with the same idempotency key.
// A batch item's error has no status: its code says (rate_limited: the
// key's rate limit refused the item).
func (e *Error) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable ||
		e.Code == "unavailable" || e.Code == "internal" || e.Code == "rate_limited"
}

// NewIdempotencyKey returns a random key (128 bits of entropy).
func NewIdempotencyKey() string { return "sbc-" + strings.ToLower(rand.Text()) }

// Send posts a message. With an empty idempotencyKey Send makes one up, so
// its own retries cannot send twice; the key used is in the response.
func (c *Client) Send(ctx context.Context, req *SendRequest, idempotencyKey string) (*SendResponse, error) {
	if idempotencyKey == "" {
		idempotencyKey = NewIdempotencyKey()
	}
	var out SendResponse
	h := http.Header{}
	h.Set("Idempotency-Key", idempotencyKey)
	resp, err := c.do(ctx, http.MethodPost, "/v1/messages", req, h, &out, true)
	if err != nil {
		return nil, err
	}
	out.Replayed = resp.Header.Get("Idempotent-Replay") == "true"
	out.IdempotencyKey = idempotencyKey
	return &out, nil
}

// Get returns a message with its attempts.
func (c *Client) Get(ctx context.Context, id string) (*Message, error) {
	var out Message
	if _, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// CodeNotCancelable is the 409 of Cancel for a message a provider may
// already have (sending or later).
const CodeNotCancelable = "not_cancelable"

// Cancel cancels a message no provider has had yet (scheduled or queued):
// it becomes canceled, which is final. Canceling it again returns it as it
// is. A message already handed over is an *Error with Code
// CodeNotCancelable (409).
func (c *Client) Cancel(ctx context.Context, id string) (*Message, error) {
	var out Message
	if _, err := c.do(ctx, http.MethodPost, "/v1/messages/"+url.PathEscape(id)+"/cancel", nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListParams filters GET /v1/messages. Empty fields do not filter.
type ListParams struct {
	To      string // any recipient address equal to this
	Status  string
	Channel string
	Policy  string
	Tag     string    // messages carrying this tag
	Since   time.Time // accepted at or after (zero: unbounded)
	Until   time.Time // accepted before (zero: unbounded)
	Limit   int       // page size, 1 to 500 (0: the server's default, 50)
	Cursor  string    // start after this cursor (ListPage's NextCursor)
}

// ListPage is one page of messages, newest first.
type ListPage struct {
	Messages   []*Message `json:"messages"`
	NextCursor string     `json:"next_cursor,omitempty"` // "" on the last page
}

// ListPage fetches one page.
func (c *Client) ListPage(ctx context.Context, p ListParams) (*ListPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"to": p.To, "status": p.Status, "channel": p.Channel, "policy": p.Policy, "tag": p.Tag, "cursor": p.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !p.Since.IsZero() {
		q.Set("since", p.Since.UTC().Format(time.RFC3339Nano))
	}
	if !p.Until.IsZero() {
		q.Set("until", p.Until.UTC().Format(time.RFC3339Nano))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	path := "/v1/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out ListPage
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// List iterates over every message matching p, newest first, fetching
// pages as needed. An error ends the iteration after it is yielded.
//
//	for m, err := range c.List(ctx, client.ListParams{Status: "failed"}) {
//		if err != nil { return err }
//		...
//	}
func (c *Client) List(ctx context.Context, p ListParams) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		for {
			page, err := c.ListPage(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, m := range page.Messages {
				if !yield(m, nil) {
					return
				}
			}
			if page.NextCursor == "" || page.NextCursor == p.Cursor {
				return
			}
			p.Cursor = page.NextCursor
		}
	}
}

// Probe is a channel's last health probe.
type Probe struct {
	At        time.Time `json:"at"`
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
}

// Channel is one channel's health.
type Channel struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	State          string `json:"state"`   // healthy, degraded, down, disabled
	Breaker        string `json:"breaker"` // closed, open, half-open
	LastProbe      *Probe `json:"last_probe,omitempty"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	SimMode        string `json:"sim_mode,omitempty"`
	// Spend is today's spend and budget (GET /v1/channels only); nil for
	// a channel with no cost, no budget and nothing spent.
	Spend *Spend `json:"spend,omitempty"`
}

// Channels lists the channels in config order (read or admin key).
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	var out struct {
		Channels []Channel `json:"channels"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/channels", nil, nil, &out, true); err != nil {
		return nil, err
	}
	return out.Channels, nil
}

// DisableChannel takes a channel out of every route (admin key).
func (c *Client) DisableChannel(ctx context.Context, name, reason string) (*Channel, error) {
	var out Channel
	body := map[string]string{}
	if reason != "" {
		body["reason"] = reason
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/channels/"+url.PathEscape(name)+"/disable", body, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnableChannel ends an ops override (admin key).
func (c *Client) EnableChannel(ctx context.Context, name string) (*Channel, error) {
	var out Channel
	if _, err := c.do(ctx, http.MethodPost, "/v1/channels/"+url.PathEscape(name)+"/enable", nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Decision says whether one channel of a route would be tried now, and why.
type Decision struct {
	Channel string `json:"channel"`
	Kind    string `json:"kind,omitempty"`
	Use     bool   `json:"use"`
	Reason  string `json:"reason"`
	Detail  string `json:"detail,omitempty"`
	// Sentence is the reason in words for a support agent: "sms was
	// skipped: its circuit breaker was open after repeated failures".
	Sentence string `json:"sentence"`
	State    string `json:"state,omitempty"`
	Breaker  string `json:"breaker,omitempty"`
}

// Explanation is the route a message would take now.
type Explanation struct {
	Policy   string     `json:"policy"`
	Route    []string   `json:"route"`
	Channel  string     `json:"channel,omitempty"` // "" if no channel would take it now
	Channels []Decision `json:"channels"`
	// Country is the destination country decided for to.phone (else
	// to.whatsapp), ISO 3166 alpha-2; "" without a phone number.
	Country   string            `json:"country,omitempty"`
	Countries map[string]string `json:"countries,omitempty"` // by field: phone, whatsapp
	// SendsAt is when the message would go out, when not now: its send_at
	// or the end of its policy's quiet hours; WaitReason and Wait say why.
	SendsAt    *time.Time `json:"sends_at,omitempty"`
	WaitReason string     `json:"wait_reason,omitempty"`
	Wait       string     `json:"wait,omitempty"`
	// CountryFrom is the field Country was read from: "phone" or "whatsapp".
	CountryFrom string `json:"country_from,omitempty"`
	// Policies is each policy's verdict on the message, in config order.
	Policies []PolicyMatch `json:"policies,omitempty"`
}

// PolicyMatch says whether one policy matched a message, and why.
type PolicyMatch struct {
	Policy  string `json:"policy"`
	Matched bool   `json:"matched"`
	Reason  string `json:"reason"`
}

// Explain asks which channel req would go to now, and why. Nothing is sent.
func (c *Client) Explain(ctx context.Context, req *SendRequest) (*Explanation, error) {
	var out Explanation
	if _, err := c.do(ctx, http.MethodPost, "/v1/routes/explain", req, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// MaxBatch is the most messages one Batch call takes.
const MaxBatch = 1000

// BatchItem is one message of a batch, with its own optional idempotency key.
type BatchItem struct {
	SendRequest
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// BatchResult is one item's outcome: accepted (ID set) or not (Error set).
type BatchResult struct {
	Index    int      `json:"index"`
	ID       string   `json:"id,omitempty"`
	Status   string   `json:"status,omitempty"`
	Policy   string   `json:"policy,omitempty"`
	Route    []string `json:"route,omitempty"`
	Replayed bool     `json:"idempotent_replay,omitempty"`
	Error    *Error   `json:"error,omitempty"`
	// A scheduled item's due time and why it waits (see SendResponse).
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	WaitReason    string     `json:"wait_reason,omitempty"`
}

// BatchResponse is the answer to a batch: one result per item, in order.
type BatchResponse struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Results  []BatchResult `json:"results"`
	// IdempotencyKey is the batch's key: the caller's, or the one Batch
	// made up. Items without their own key use "<key>#<index>".
	IdempotencyKey string `json:"-"`
}

// Batch sends up to MaxBatch messages in one request. Items are accepted or
// refused one by one: check each result's Error. With an empty
// idempotencyKey Batch makes one up, so its retries cannot send twice.
func (c *Client) Batch(ctx context.Context, items []BatchItem, idempotencyKey string) (*BatchResponse, error) {
	if len(items) == 0 || len(items) > MaxBatch {
		return nil, fmt.Errorf("switchboard: a batch holds 1 to %d messages, got %d", MaxBatch, len(items))
	}
	if idempotencyKey == "" {
		idempotencyKey = NewIdempotencyKey()
	}
	h := http.Header{}
	h.Set("Idempotency-Key", idempotencyKey)
	var out BatchResponse
	if _, err := c.do(ctx, http.MethodPost, "/v1/messages/batch", map[string]any{"messages": items}, h, &out, true); err != nil {
		return nil, err
	}
	out.IdempotencyKey = idempotencyKey
	return &out, nil
}

// Do sends any API request with a JSON body and decodes a JSON answer. It
// retries 429 and 503 answers; transport errors only for GET and for
// requests that carry an Idempotency-Key.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.do(ctx, method, path, body, nil, out, method == http.MethodGet)
	return err
}

// do runs one API call with retries. safe says a transport error may be
// retried (the request is idempotent, or carries an Idempotency-Key).
func (c *Client) do(ctx context.Context, method, path string, body any, h http.Header, out any, safe bool) (*http.Response, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		payload = b
	}
	if h.Get("Idempotency-Key") != "" {
		safe = true
	}
	attempts := c.Retry.attempts()
	for n := 0; ; n++ {
		resp, data, err := c.once(ctx, method, path, payload, body != nil, h)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !safe {
				return nil, err
			}
			wait = c.Retry.backoff(n)
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			ae := apiError(resp, data)
			if ae.Code == CodeRecipientRateLimited {
				// Not load to wait out: this recipient has had its
				// policy's share for the window (up to an hour). The
				// caller decides; RetryAfter says when it fits again.
				return resp, ae
			}
			wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if wait <= 0 {
				wait = c.Retry.backoff(n)
			}
			err = ae
		default:
			if resp.StatusCode >= 400 {
				return resp, apiError(resp, data)
			}
			if out != nil {
				if err := json.Unmarshal(data, out); err != nil {
					return resp, fmt.Errorf("decode response: %w", err)
				}
			}
			return resp, nil
		}
		if n+1 >= attempts {
			return resp, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return resp, err // cannot wait that long: give the caller the real error now
		}
		if serr := c.wait(ctx, wait); serr != nil {
			return resp, err
		}
	}
}

func (c *Client) wait(ctx context.Context, d time.Duration) error {
	if c.sleep != nil {
		return c.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) once(ctx context.Context, method, path string, payload []byte, hasBody bool, h http.Header) (*http.Response, []byte, error) {
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "switchboard-go-client")
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	return resp, data, nil
}

func apiError(resp *http.Response, data []byte) *Error {
	var e struct {
		Error *Error `json:"error"`
	}
	out := &Error{Code: "http_error", Message: strings.TrimSpace(string(data))}
	if json.Unmarshal(data, &e) == nil && e.Error != nil {
		out = e.Error
	}
	out.StatusCode = resp.StatusCode
	out.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return out
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// IsRetryable reports whether err (from any Client method) is worth
// retrying later with the same idempotency key.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable()
	}
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Package client is a small Go client for Switchboard's HTTP API.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one Switchboard gateway.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Key     string // bearer API key
	HTTP    *http.Client
}

// New returns a client with a 30 s request timeout.
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
	Policy      string            `json:"policy,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	TTL         string            `json:"ttl,omitempty"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// SendResponse is the gateway's 202.
type SendResponse struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Policy   string   `json:"policy"`
	Route    []string `json:"route"`
	Replayed bool     `json:"-"` // the Idempotency-Key was seen before
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
	FailoverReason string     `json:"failover_reason,omitempty"`
	Ambiguous      bool       `json:"ambiguous,omitempty"`
	Late           bool       `json:"late,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
}

// Message is a message and its attempts.
type Message struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Policy     string    `json:"policy"`
	Route      []string  `json:"route"`
	Channel    string    `json:"channel,omitempty"`
	IsFallback bool      `json:"is_fallback"`
	Duplicate  bool      `json:"duplicate"`
	To         Recipient `json:"to"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Attempts   []Attempt `json:"attempts,omitempty"`
}

// Error is an API error response.
type Error struct {
	StatusCode int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s (field %s)", e.StatusCode, e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Send posts a message. idempotencyKey may be empty.
func (c *Client) Send(ctx context.Context, req *SendRequest, idempotencyKey string) (*SendResponse, error) {
	var out SendResponse
	h := http.Header{}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/messages", req, h, &out)
	if err != nil {
		return nil, err
	}
	out.Replayed = resp.Header.Get("Idempotent-Replay") == "true"
	return &out, nil
}

// Get returns a message with its attempts.
func (c *Client) Get(ctx context.Context, id string) (*Message, error) {
	var out Message
	if _, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Do sends any API request with a JSON body and decodes a JSON answer.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.do(ctx, method, path, body, nil, out)
	return err
}

func (c *Client) do(ctx context.Context, method, path string, body any, h http.Header, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			e.Error.StatusCode = resp.StatusCode
			return resp, e.Error
		}
		return resp, &Error{StatusCode: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(data))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("decode response: %w", err)
		}
	}
	return resp, nil
}

package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Inbound is a message a person sent to one of the gateway's channels (a
// reply, STOP): an item of GET /v1/inbound, and the body of an inbound
// callback to inbound.callback_url (Type "inbound" there; verify its
// Switchboard-Signature with VerifySignature and inbound.callback_secret
// before decoding it).
type Inbound struct {
	Type       string    `json:"type,omitempty"` // "inbound" in a callback; empty in a list
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Kind       string    `json:"kind"` // sms, whatsapp, telegram
	From       string    `json:"from"` // E.164, or a Telegram chat id
	To         string    `json:"to,omitempty"`
	Text       string    `json:"text"`
	ProviderID string    `json:"provider_id,omitempty"`
	ReplyTo    string    `json:"reply_to,omitempty"` // the message replied to, when the provider said
	ReceivedAt time.Time `json:"received_at"`
}

// InboundParams filters GET /v1/inbound. Empty fields do not filter.
type InboundParams struct {
	Channel string
	From    string
	Since   time.Time // received at or after (zero: unbounded)
	Limit   int       // page size, 1 to 500 (0: the server's default, 50)
	Cursor  string    // start after this cursor (InboundPage's NextCursor)
}

// InboundPage is one page of inbound messages, newest first.
type InboundPage struct {
	Inbound    []*Inbound `json:"inbound"`
	NextCursor string     `json:"next_cursor,omitempty"` // "" on the last page
}

// InboundPage fetches one page of inbound messages (a read or admin key).
func (c *Client) InboundPage(ctx context.Context, p InboundParams) (*InboundPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"channel": p.Channel, "from": p.From, "cursor": p.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !p.Since.IsZero() {
		q.Set("since", p.Since.UTC().Format(time.RFC3339Nano))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	path := "/v1/inbound"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out InboundPage
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Inbound iterates over every inbound message matching p, newest first,
// fetching pages as needed. An error ends the iteration after it is
// yielded.
func (c *Client) Inbound(ctx context.Context, p InboundParams) iter.Seq2[*Inbound, error] {
	return func(yield func(*Inbound, error) bool) {
		for {
			page, err := c.InboundPage(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, m := range page.Inbound {
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

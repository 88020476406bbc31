package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Suppression is one entry of the opt-out list: no message goes to Address
// on a channel of Kind until it is removed.
type Suppression struct {
	Address   string    `json:"address"`
	Kind      string    `json:"kind"` // sms, whatsapp, email, telegram
	Reason    string    `json:"reason,omitempty"`
	Source    string    `json:"source"` // inbound, provider, api
	CreatedAt time.Time `json:"created_at"`
}

// SuppressionParams filters and pages the opt-out list.
type SuppressionParams struct {
	Address string
	Kind    string
	Limit   int    // page size, 1 to 500 (0: the server's default, 50)
	Cursor  string // start after this cursor (SuppressionPage's NextCursor)
}

// SuppressionPage is one page of the opt-out list, in (address, kind) order.
type SuppressionPage struct {
	Suppressions []Suppression `json:"suppressions"`
	NextCursor   string        `json:"next_cursor,omitempty"` // "" on the last page
}

// SuppressionPage fetches one page of the opt-out list (read or admin key).
func (c *Client) SuppressionPage(ctx context.Context, p SuppressionParams) (*SuppressionPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"address": p.Address, "kind": p.Kind, "cursor": p.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	path := "/v1/suppressions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out SuppressionPage
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Suppressions iterates over every entry matching p, fetching pages as
// needed. An error ends the iteration after it is yielded.
func (c *Client) Suppressions(ctx context.Context, p SuppressionParams) iter.Seq2[Suppression, error] {
	return func(yield func(Suppression, error) bool) {
		for {
			page, err := c.SuppressionPage(ctx, p)
			if err != nil {
				yield(Suppression{}, err)
				return
			}
			for _, s := range page.Suppressions {
				if !yield(s, nil) {
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

// Suppress puts address on the opt-out list for kind (admin key): no
// message goes to it on a channel of that kind until Unsuppress. Adding
// an entry again replaces its reason. It is safe to retry.
func (c *Client) Suppress(ctx context.Context, address, kind, reason string) (*Suppression, error) {
	body := map[string]string{"address": address, "kind": kind}
	if reason != "" {
		body["reason"] = reason
	}
	var out Suppression
	if _, err := c.do(ctx, http.MethodPost, "/v1/suppressions", body, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unsuppress removes address from the opt-out list for kind (admin key).
// An address that is not on it is an *Error with Code "not_found" (so
// is a retry whose first try removed it but lost the answer).
func (c *Client) Unsuppress(ctx context.Context, address, kind string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/suppressions/"+url.PathEscape(kind)+"/"+url.PathEscape(address), nil, nil, nil, true)
	return err
}

package api

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// The list endpoints' shared query parameters (GET /v1/messages,
// /v1/inbound, /v1/suppressions): each refusal is a 400 invalid_query
// naming the parameter.

// queryTime reads the RFC 3339 time in parameter field; zero when absent.
func queryTime(q url.Values, field string) (time.Time, error) {
	v := q.Get(field)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("invalid_query", field, "%s must be an RFC 3339 time, such as 2026-11-23T18:00:00Z", field)
	}
	return t, nil
}

// queryLimit reads limit (1 to store.MaxListLimit); def when absent.
func queryLimit(q url.Values, def int) (int, error) {
	l := q.Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > store.MaxListLimit {
		return 0, badRequest("invalid_query", "limit", "limit must be a number from 1 to %d", store.MaxListLimit)
	}
	return n, nil
}

// listError is a store's answer to a list: a cursor it does not know is
// the caller's mistake, anything else the server's.
func listError(err error, what string) error {
	if errors.Is(err, store.ErrInvalidCursor) {
		return badRequest("invalid_query", "cursor", "cursor is not one this server returned")
	}
	return fmt.Errorf("list %s: %w", what, err)
}

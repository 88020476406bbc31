package channels

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHTTPClass(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]Class{
		200: "", 201: "", 400: Permanent, 404: Permanent, 422: Permanent, 401: Misconfigured, 403: Misconfigured,
		408: Transient, 429: RateLimited, 500: Transient, 502: Transient, 503: Transient, 504: Transient,
	} {
		require.Equal(t, want, HTTPClass(status), "status %d", status)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	require.Equal(t, 7*time.Second, ParseRetryAfter("7", now))
	require.Equal(t, time.Duration(0), ParseRetryAfter("", now))
	require.Equal(t, time.Duration(0), ParseRetryAfter("soon", now))
	require.Equal(t, 90*time.Second, ParseRetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	require.Equal(t, time.Duration(0), ParseRetryAfter(now.Add(-time.Minute).Format(http.TimeFormat), now))
}

func TestTransportErrorTellsRefusedFromLost(t *testing.T) {
	t.Parallel()
	// Connection refused: the request was never written, safe to retry.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	var w WriteTracker
	_, err = http.DefaultClient.Do(mustReq(t, w.Context(context.Background()), "http://"+addr))
	require.Error(t, err)
	require.Equal(t, Transient, ClassOf(TransportError("post", err, w.Wrote())))

	// A server that reads the request and never answers: ambiguous.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	var w2 WriteTracker
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = http.DefaultClient.Do(mustReq(t, w2.Context(ctx), srv.URL))
	require.Error(t, err)
	ce := TransportError("post", err, w2.Wrote())
	require.Equal(t, Ambiguous, ClassOf(ce))
	require.True(t, errors.Is(ce, context.DeadlineExceeded))
	require.True(t, IsClass(ce, Ambiguous))
}

func mustReq(t *testing.T, ctx context.Context, url string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	require.NoError(t, err)
	return req
}

package callbacks

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"m1","status":"delivered"}`)
	h := Sign("s3cret", body, now)
	require.Regexp(t, `^t=1800000000,v1=[0-9a-f]{64}$`, h)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "s3cret", h, body, now, nil},
		{"within tolerance", "s3cret", h, body, now.Add(4 * time.Minute), nil},
		{"rotation: second v1 matches", "s3cret", "t=1800000000,v1=" + mac("old", "1800000000", body) + ",v1=" + mac("s3cret", "1800000000", body), body, now, nil},
		{"wrong secret", "other", h, body, now, ErrBadSignature},
		{"tampered body", "s3cret", h, []byte(`{"id":"m1","status":"failed"}`), now, ErrBadSignature},
		{"replayed later", "s3cret", h, body, now.Add(10 * time.Minute), ErrStale},
		{"no header", "s3cret", "", body, now, ErrNoSignature},
		{"no v1", "s3cret", "t=1800000000", body, now, ErrNoSignature},
		{"timestamp changed", "s3cret", "t=1800000001," + h[len("t=1800000000,"):], body, now, ErrBadSignature},
	}
	for _, tt := range tests {
		err := Verify(tt.secret, tt.header, tt.body, 5*time.Minute, tt.now)
		if tt.want == nil {
			require.NoError(t, err, tt.name)
			continue
		}
		require.True(t, errors.Is(err, tt.want), "%s: got %v", tt.name, err)
	}
}

func TestRetryDelayGrowsToItsCap(t *testing.T) {
	t.Parallel()
	require.LessOrEqual(t, retryDelay(1), time.Second)
	require.GreaterOrEqual(t, retryDelay(1), 500*time.Millisecond)
	require.GreaterOrEqual(t, retryDelay(5), 8*time.Second)
	require.LessOrEqual(t, retryDelay(50), maxRetry)
	require.GreaterOrEqual(t, retryDelay(50), maxRetry/2)
}

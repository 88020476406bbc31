package callbacks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryDelayGrowsToItsCap(t *testing.T) {
	t.Parallel()
	require.LessOrEqual(t, retryDelay(1), time.Second)
	require.GreaterOrEqual(t, retryDelay(1), 500*time.Millisecond)
	require.GreaterOrEqual(t, retryDelay(5), 8*time.Second)
	require.LessOrEqual(t, retryDelay(50), maxRetry)
	require.GreaterOrEqual(t, retryDelay(50), maxRetry/2)
}

package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/store"
)

// TestStatusCallbacksDoNotWaitForThePoll: with the callback poll an hour
// away, a batch of 100 messages' 200 callbacks to one receiver all arrive,
// signed, each message's sent before its delivered: a recorded status
// change wakes the sender, and a destination's queue refills as its POSTs
// end, so nothing waits for the poll. (How fast: BenchmarkCallbackThroughput.)
func TestStatusCallbacksDoNotWaitForThePoll(t *testing.T) {
	t.Parallel()
	tb := setupCallbacks(t, baseConfig, func(s *callbacks.Sender) { s.Poll = time.Hour })
	h := newHook(t, nil)
	status, out := tb.do(t, http.MethodPost, "/v1/messages/batch", sendKey, batchWithCallbacks(100, h.srv.URL+"/hooks"))
	require.Equal(t, http.StatusOK, status, "%v", out)
	results := out["results"].([]any)
	require.Len(t, results, 100)
	secret := secretOf(t, tb.g, "shop")
	for _, r := range results {
		id := r.(map[string]any)["id"].(string)
		require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, verified(t, secret, h.waitCalls(id, 2)), id)
	}
}

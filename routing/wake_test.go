package routing

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// A wake that comes while every worker is busy claims nothing; the work it
// was for (here a message stored unleased, as when the hand-off queue is
// full or another instance enqueued it) is claimed when a worker frees,
// not at the poll an hour later. The steps are ordered by the dispatcher's
// own channels: the wake is taken, then a hand-over after it, so the busy
// claim loop has returned before any worker frees.
func TestWakeWhileWorkersBusyIsNotLost(t *testing.T) {
	t.Parallel()
	lb := setupLeases(t, 4) // claims only when a worker is free
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		lb.accept(id)
	}
	for range 4 {
		<-lb.ch.entered // every worker is busy in a send
	}
	now := lb.clock()
	_, _, err := lb.st.Enqueue(context.Background(), &store.Message{
		ID: "m5", Policy: "otp", Route: []string{"whatsapp"}, Body: "Your code is 123456",
		To:        store.Recipient{WhatsApp: "+15551234567"},
		CreatedAt: now, NextAt: now, ExpiresAt: now.Add(time.Hour),
	})
	require.NoError(t, err)
	lb.d.Wake()
	require.Eventually(t, func() bool { return len(lb.d.wake) == 0 }, 10*time.Second, time.Millisecond, "the wake is taken")
	lb.accept("m6") // waits for a worker in Run, after the busy claim returned
	require.Eventually(t, func() bool { return len(lb.d.local) == 0 }, 10*time.Second, time.Millisecond, "m6 is taken")
	close(lb.ch.gate) // the sends end: workers free up
	sent := map[string]bool{}
	bound := time.After(30 * time.Second)
	for !sent["m5"] {
		select {
		case id := <-lb.ch.entered:
			sent[id] = true
		case <-bound:
			t.Fatalf("m5 was never sent (sent: %v): the wake was lost", sent)
		}
	}
}

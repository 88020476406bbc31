package callbacks

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// leasedOutbox is an in-memory outbox that keeps ClaimCallbacks's
// contract: due (NextAt <= now) and not leased, oldest due first, one per
// message (its oldest pending); DeferCallbacks drops the lease and sets
// NextAt; FinishCallback settles or reschedules.
type leasedOutbox struct {
	mu  sync.Mutex
	cbs []*leasedCallback
}

type leasedCallback struct {
	cb         store.Callback
	owner      string
	leaseUntil time.Time
	status     string
}

var _ store.CallbackOutbox = (*leasedOutbox)(nil)

func (o *leasedOutbox) add(cb store.Callback) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cbs = append(o.cbs, &leasedCallback{cb: cb, status: store.CallbackPending})
}

func (o *leasedOutbox) ClaimCallbacks(_ context.Context, owner string, lease time.Duration, limit int, now time.Time) ([]store.Callback, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*leasedCallback
	first := map[string]bool{} // messages whose oldest pending callback was seen
	for _, c := range o.cbs {  // in ID order
		if c.status != store.CallbackPending || first[c.cb.MessageID] {
			continue
		}
		first[c.cb.MessageID] = true
		if !c.cb.NextAt.After(now) && !c.leaseUntil.After(now) {
			due = append(due, c)
		}
	}
	slices.SortStableFunc(due, func(a, b *leasedCallback) int { return a.cb.NextAt.Compare(b.cb.NextAt) })
	var out []store.Callback
	for _, c := range due[:min(limit, len(due))] {
		c.owner, c.leaseUntil = owner, now.Add(lease)
		out = append(out, c.cb)
	}
	return out, nil
}

func (o *leasedOutbox) find(id int64) *leasedCallback {
	for _, c := range o.cbs {
		if c.cb.ID == id {
			return c
		}
	}
	return nil
}

func (o *leasedOutbox) FinishCallback(_ context.Context, r store.CallbackResult) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.find(r.ID)
	if c == nil || c.owner != r.Owner {
		return store.ErrLeaseLost
	}
	c.status, c.leaseUntil = r.Status, time.Time{}
	c.cb.Attempts++
	if r.Status == store.CallbackPending {
		c.cb.NextAt = r.NextAt
	}
	return nil
}

func (o *leasedOutbox) DeferCallbacks(_ context.Context, owner string, ids []int64, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		if c := o.find(id); c != nil && c.owner == owner && c.status == store.CallbackPending {
			c.leaseUntil, c.cb.NextAt = time.Time{}, next
		}
	}
	return nil
}

func (o *leasedOutbox) Callbacks(context.Context, string) ([]store.Callback, error) { return nil, nil }

func (o *leasedOutbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.cbs {
		if c.status == store.CallbackPending {
			n++
		}
	}
	return n
}

// TestCallbacksToOneReceiverDoNotWaitForThePoll: with the poll an hour
// away, 100 messages' 200 callbacks (sent, then delivered, each message in
// order) to one receiver on 127.0.0.1 all arrive: each try that ends
// starts the destination's next queued callback and wakes the claim loop,
// and nothing handed back waits for a poll. Before, per_host (2) went per
// claim and the rest were handed back until a poll that never came.
func TestCallbacksToOneReceiverDoNotWaitForThePoll(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]store.Status{}
	arrived := make(chan struct{}, 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p store.CallbackPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[p.ID] = append(got[p.ID], p.Status)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		arrived <- struct{}{}
	}))
	t.Cleanup(srv.Close)

	o := &leasedOutbox{}
	now := time.Now()
	id := int64(0)
	for _, st := range []store.Status{store.StatusSent, store.StatusDelivered} {
		for i := range 100 {
			id++
			msg := "m" + strconv.Itoa(i)
			payload, err := json.Marshal(store.CallbackPayload{ID: msg, Status: st, Timestamp: now})
			require.NoError(t, err)
			o.add(store.Callback{ID: id, MessageID: msg, URL: srv.URL + "/hooks", Scope: "shop", Payload: payload, CreatedAt: now, NextAt: now})
		}
	}
	s := &Sender{Store: o, Secrets: func(string) []string { return []string{"s"} }, Owner: "test",
		Poll: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	s.defaults()
	s.SetPolicy(policy(t, config.Callbacks{AllowPrivateNetworks: true}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		s.Client.CloseIdleConnections()
	})

	// Bounded so a regression fails rather than hangs; an hour's poll is
	// never reached either way.
	deadline := time.After(time.Minute)
	for n := 0; n < 200; n++ {
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("%d of 200 callbacks arrived; %d still pending", n, o.pending())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 100)
	for msg, sts := range got {
		require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, sts, "%s: once each, in order", msg)
	}
}

// TestCallbacksFastReceiverThatHangsHoldsPerHost: a receiver that answers
// at once, so its destination keeps a deep queue, then hangs: it holds
// per_host (2) POSTs and no more, its queue is cut back and handed to the
// store, and another destination's callbacks all arrive while it hangs.
func TestCallbacksFastReceiverThatHangsHoldsPerHost(t *testing.T) {
	t.Parallel()
	const answered = 50
	release := make(chan struct{})
	var mu sync.Mutex
	var received, open, maxOpen int
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received++
		n := received
		open++
		maxOpen = max(maxOpen, open)
		mu.Unlock()
		if n > answered {
			<-release // hangs until the test ends
		}
		mu.Lock()
		open--
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	arrived := make(chan struct{}, 20)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		arrived <- struct{}{}
	}))
	// Cleanups run last first: the gateway's Run stops (its hung POSTs
	// released first), then the receivers close.
	t.Cleanup(other.Close)
	t.Cleanup(stall.Close)

	o := &leasedOutbox{}
	now := time.Now()
	for i := range 200 {
		o.add(store.Callback{ID: int64(i + 1), MessageID: "s" + strconv.Itoa(i), URL: stall.URL + "/hooks", Scope: "shop", Payload: []byte(`{}`), CreatedAt: now, NextAt: now})
	}
	s := &Sender{Store: o, Secrets: func(string) []string { return []string{"s"} }, Owner: "test",
		Poll: time.Hour, Timeout: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	s.defaults()
	s.SetPolicy(policy(t, config.Callbacks{AllowPrivateNetworks: true}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		close(release)
		cancel()
		require.NoError(t, <-done)
		s.Client.CloseIdleConnections()
	})

	// Wait until it hangs: both its POSTs taken and unanswered.
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := received
		mu.Unlock()
		if n >= answered+2 {
			break
		}
		require.False(t, time.Now().After(deadline), "the receiver got %d POSTs in a minute, want %d", n, answered+2)
		time.Sleep(time.Millisecond)
	}
	for i := range 20 {
		o.add(store.Callback{ID: int64(1000 + i), MessageID: "o" + strconv.Itoa(i), URL: other.URL + "/hooks", Scope: "shop", Payload: []byte(`{}`), CreatedAt: time.Now(), NextAt: time.Now()})
	}
	s.Wake()
	timeout := time.After(time.Minute)
	for n := 0; n < 20; n++ {
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("%d of the other destination's 20 callbacks arrived", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, answered+2, received, "no POST to the hung receiver ended, so no other started")
	require.Equal(t, 2, maxOpen, "never more than per_host at once")
}

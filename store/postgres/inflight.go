package postgres

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/switchboard-gw/switchboard/store"
)

// inflight holds the provider ids of the attempts whose Advance is queued
// or running in this process, so a receipt for one of them waits for that
// Advance to commit instead of missing its attempt.
//
// A fast provider reports delivery a few milliseconds after it accepted
// the message, which is often before the group commit that records the
// attempt: measured on the ingest bench, half the receipt lookups found
// nothing, and routing.Receipts retried each 20 ms later (another lookup,
// another batch slot). Waiting here costs the receipt the rest of one
// batch and the database nothing. Receipts that reach another instance
// (a provider's webhook) still take the retry path.
type inflight struct {
	mu      sync.Mutex
	m       map[inflightKey]chan struct{}
	waiting atomic.Int32 // receipts waiting now (tests)
}

type inflightKey struct{ channel, providerID string }

// add registers t's attempts that carry a provider id; done ends their
// registration and releases the receipts waiting for them.
func (f *inflight) add(t *store.Transition) (done func()) {
	var keys []inflightKey
	for i := range t.Attempts {
		if a := &t.Attempts[i]; a.ProviderID != "" {
			keys = append(keys, inflightKey{a.Channel, a.ProviderID})
		}
	}
	if len(keys) == 0 {
		return func() {}
	}
	c := make(chan struct{})
	f.mu.Lock()
	if f.m == nil {
		f.m = map[inflightKey]chan struct{}{}
	}
	for _, k := range keys {
		f.m[k] = c
	}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		for _, k := range keys {
			if f.m[k] == c {
				delete(f.m, k)
			}
		}
		f.mu.Unlock()
		close(c)
	}
}

// wait returns once no Advance of this process is recording the attempt
// (channel, providerID), or when ctx ends.
func (f *inflight) wait(ctx context.Context, channel, providerID string) error {
	f.mu.Lock()
	c := f.m[inflightKey{channel, providerID}]
	f.mu.Unlock()
	if c == nil {
		return nil
	}
	f.waiting.Add(1)
	defer f.waiting.Add(-1)
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

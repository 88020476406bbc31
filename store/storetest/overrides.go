package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// RunOverrides runs the ops override suite (store.OverrideStore, part of
// store.Store).
func RunOverrides(t *testing.T, open func(t *testing.T) store.Store) {
	o := open(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	list, err := o.Overrides(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	changed := o.OverridesChanged()
	require.NoError(t, o.SetOverride(ctx, store.Override{Channel: "whatsapp", Disabled: true, Reason: "incident 42", By: "ops", At: at}))
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("OverridesChanged did not fire after SetOverride")
	}
	require.NoError(t, o.SetOverride(ctx, store.Override{Channel: "sms", Disabled: true, Reason: "carrier", By: "ops", At: at}))
	require.NoError(t, o.SetOverride(ctx, store.Override{Channel: "sms", Disabled: false, By: "lead", At: at.Add(time.Minute)}))

	list, err = o.Overrides(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2, "one row per channel, the latest wins")
	require.Equal(t, store.Override{Channel: "sms", Disabled: false, By: "lead", At: at.Add(time.Minute)}, list[0])
	require.Equal(t, store.Override{Channel: "whatsapp", Disabled: true, Reason: "incident 42", By: "ops", At: at}, list[1])

	require.Error(t, o.SetOverride(ctx, store.Override{}), "an override names its channel")
}
